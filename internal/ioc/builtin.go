package ioc

// builtinAllowlistText is the built-in allowlist in ParseAllowlist syntax.
// Keep ALLOWLIST.md in step (TestAllowlistDoc checks every entry is there).
//
// Domain entries match the exact name only; "*.name" entries cover every
// subdomain. Wildcards are limited to hosts that only the vendor operates
// (update and connectivity-check services, NTP pools); shared hosting and
// storage suffixes (blob.core.windows.net, s3.amazonaws.com, workers.dev,
// github.io...) are not wildcarded because their subdomains are attacker
// controlled. URL shorteners (bit.ly, tinyurl.com...) are not listed: they
// are abused. None of this applies to URL indicators.
const builtinAllowlistText = `
# Public DNS resolvers
8.8.8.8, 8.8.4.4, 2001:4860:4860::8888, 2001:4860:4860::8844          # Google
1.1.1.1, 1.0.0.1, 1.1.1.2, 1.0.0.2, 1.1.1.3, 1.0.0.3                    # Cloudflare
2606:4700:4700::1111, 2606:4700:4700::1001                             # Cloudflare
9.9.9.9, 149.112.112.112, 9.9.9.10, 9.9.9.11, 2620:fe::fe, 2620:fe::9   # Quad9
208.67.222.222, 208.67.220.220, 208.67.222.123, 208.67.220.123         # OpenDNS
2620:119:35::35, 2620:119:53::53                                       # OpenDNS
94.140.14.14, 94.140.15.15                                             # AdGuard
4.2.2.1, 4.2.2.2                                                       # Level3
dns.google, one.one.one.one, cloudflare-dns.com, dns.quad9.net

# Microsoft
microsoft.com, www.microsoft.com, windows.com, windows.net, windowsupdate.com
*.windowsupdate.com, *.update.microsoft.com, *.delivery.mp.microsoft.com
office.com, www.office.com, office.net, office365.com, outlook.office365.com
microsoftonline.com, login.microsoftonline.com, graph.microsoft.com
live.com, login.live.com, onedrive.live.com, outlook.com, azure.com
bing.com, www.bing.com, msn.com, skype.com, sharepoint.com
msftconnecttest.com, www.msftconnecttest.com, msftncsi.com, www.msftncsi.com
time.windows.com, crl.microsoft.com, azureedge.net

# Google
google.com, www.google.com, googleapis.com, www.googleapis.com, gstatic.com
www.gstatic.com, googleusercontent.com, youtube.com, www.youtube.com, gmail.com
pki.goog, ocsp.pki.goog, time.google.com

# Developer platforms
github.com, www.github.com, api.github.com, githubusercontent.com
raw.githubusercontent.com, gitlab.com, python.org, pypi.org, npmjs.com
docker.com, ubuntu.com, debian.org, mozilla.org, www.mozilla.org, firefox.com

# Cloud, CDN and certificate infrastructure
amazon.com, www.amazon.com, amazonaws.com, aws.amazon.com
cloudflare.com, www.cloudflare.com, cloudfront.net, fastly.net
akamai.com, akamai.net, akamaihd.net, akamaiedge.net, akamaized.net
edgekey.net, edgesuite.net, letsencrypt.org, digicert.com
ocsp.digicert.com, crl3.digicert.com, crl4.digicert.com
*.pool.ntp.org, pool.ntp.org

# Consumer platforms and collaboration
apple.com, www.apple.com, icloud.com, facebook.com, www.facebook.com, fbcdn.net
instagram.com, whatsapp.com, twitter.com, x.com, linkedin.com, www.linkedin.com
wikipedia.org, en.wikipedia.org, dropbox.com, www.dropbox.com
discord.com, discordapp.com, cdn.discordapp.com, telegram.org, t.me
yahoo.com, zoom.us, slack.com, salesforce.com, adobe.com, oracle.com

# Public IP-echo services that malware and sandboxes contact
api.ipify.org, ipinfo.io, icanhazip.com, checkip.amazonaws.com
ifconfig.me, ip-api.com, checkip.dyndns.org

# Threat-intel sources quoted in their own feeds
abuse.ch, threatfox.abuse.ch, urlhaus.abuse.ch, bazaar.abuse.ch
feodotracker.abuse.ch, sslbl.abuse.ch, virustotal.com, www.virustotal.com
`
