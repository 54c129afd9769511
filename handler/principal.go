package main

import "net/http"

// principalHeader is the header App Service authentication (Easy Auth) sets
// to the signed-in caller's name, after removing any copy the client sent.
const principalHeader = "X-MS-CLIENT-PRINCIPAL-NAME"

// clientPrincipal returns the caller named by principalHeader when trust
// says App Service authentication fronts the app
// (TRUST_CLIENT_PRINCIPAL_HEADER), else "": without it, any client can send
// the header and claim any name.
func clientPrincipal(r *http.Request, trust bool) string {
	if !trust {
		return ""
	}
	return r.Header.Get(principalHeader)
}
