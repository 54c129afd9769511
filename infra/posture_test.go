package infra

import (
	"regexp"
	"strings"
	"testing"
)

// varBlock returns the text of `var name = {` up to its closing brace at
// column 0, or "".
func varBlock(src, name string) string {
	start := strings.Index(src, "\nvar "+name+" = {\n")
	if start < 0 {
		return ""
	}
	rest := src[start+1:]
	if end := strings.Index(rest, "\n}\n"); end >= 0 {
		return rest[:end+2]
	}
	return rest
}

// decorators returns the decorator lines right above `param name`.
func decorators(src, name string) []string {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "param "+name+" ") {
			continue
		}
		var out []string
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "@"); j-- {
			out = append(out, lines[j])
		}
		return out
	}
	return nil
}

// resourceBlock returns the block of the resource with the given symbolic
// name, or "".
func resourceBlock(src, symbol string) string {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "resource "+symbol+" ") {
			var b strings.Builder
			for _, m := range lines[i:] {
				b.WriteString(m + "\n")
				if m == "}" || m == "}]" {
					break
				}
			}
			return b.String()
		}
	}
	return ""
}

func requireAll(t *testing.T, where, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q", where, w)
		}
	}
}

func TestKeyVaultPurgeProtection(t *testing.T) {
	t.Parallel()
	requireAll(t, "keyvault.bicep vault", resourceBlock(readText(t, "modules/keyvault.bicep"), "vault"),
		"enablePurgeProtection: true", "enableSoftDelete: true", "enableRbacAuthorization: true")
}

// TestDiagnosticSettings: Key Vault, Storage (account, blob, table), Service
// Bus and the function app send logs and metrics to the app's Log Analytics
// workspace, which main.bicep passes to each module.
func TestDiagnosticSettings(t *testing.T) {
	t.Parallel()
	main := readText(t, "main.bicep")
	for file, scopes := range map[string][]string{
		"modules/keyvault.bicep":    {"vault"},
		"modules/servicebus.bicep":  {"namespace"},
		"modules/functionapp.bicep": {"site"},
		"modules/storage.bicep":     {"storage", "blobService", "tableService"},
	} {
		src := readText(t, file)
		found := map[string]string{}
		for _, b := range blocks(src, "Microsoft.Insights/diagnosticSettings@") {
			m := regexp.MustCompile(`(?m)^  scope: (\w+)$`).FindStringSubmatch(b)
			if m == nil {
				t.Errorf("%s: diagnostic setting without scope:\n%s", file, b)
				continue
			}
			found[m[1]] = b
			requireAll(t, file+" diagnostics of "+m[1], b, "workspaceId: logAnalyticsId")
		}
		for _, scope := range scopes {
			b, ok := found[scope]
			if !ok {
				t.Errorf("%s: no diagnostic setting on %s", file, scope)
				continue
			}
			if scope != "storage" { // the account itself has metrics only
				requireAll(t, file+" diagnostics of "+scope, b, "categoryGroup: 'allLogs'")
			}
		}
		if p := params(src)["logAnalyticsId"]; p.name == "" || p.def != "" {
			t.Errorf("%s: logAnalyticsId must be a required parameter", file)
		}
		module := strings.TrimSuffix(strings.TrimPrefix(file, "modules/"), ".bicep")
		mod := moduleBlock(main, module)
		requireAll(t, "main.bicep module "+module, mod, "logAnalyticsId: monitoring.outputs.logAnalyticsId")
	}
}

// moduleBlock returns the block of main.bicep's module using
// modules/<file>.bicep.
func moduleBlock(src, file string) string {
	i := strings.Index(src, "'modules/"+file+".bicep'")
	if i < 0 {
		return ""
	}
	rest := src[i:]
	if end := strings.Index(rest, "\n}\n"); end >= 0 {
		return rest[:end]
	}
	return rest
}

// TestFunctionAppHardening: basic publishing credentials off for SCM and
// FTP, TLS 1.2 on the SCM site on both plans, ftpsState only on Premium
// (a documented deprecation on Flex).
func TestFunctionAppHardening(t *testing.T) {
	t.Parallel()
	src := readText(t, "modules/functionapp.bicep")
	pub := resourceBlock(src, "publishingCredentials")
	requireAll(t, "publishingCredentials", pub, "'Microsoft.Web/sites/basicPublishingCredentialsPolicies@", "'scm'", "'ftp'", "allow: false", "parent: site")
	flex, premium := varBlock(src, "flexConfig"), varBlock(src, "premiumConfig")
	if flex == "" || premium == "" {
		t.Fatal("functionapp.bicep lacks var flexConfig or premiumConfig")
	}
	requireAll(t, "flexConfig", flex, "scmMinTlsVersion: '1.2'", "minTlsVersion: '1.2'")
	requireAll(t, "premiumConfig", premium, "scmMinTlsVersion: '1.2'", "ftpsState: 'Disabled'")
	if strings.Contains(stripComments(flex), "ftpsState") {
		t.Error("flexConfig sets ftpsState, a deprecation on Flex Consumption")
	}
}

// stripComments removes // comments from every line of src.
func stripComments(src string) string {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		lines[i] = stripComment(l)
	}
	return strings.Join(lines, "\n")
}

// TestInstanceCountBounds: Flex refuses a maximum instance count below 40;
// the Premium burst has its own 1-100 parameter.
func TestInstanceCountBounds(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"main.bicep", "modules/functionapp.bicep"} {
		src := readText(t, file)
		for name, want := range map[string][]string{
			"maximumInstanceCount":        {"@minValue(40)", "@maxValue(1000)"},
			"premiumMaximumInstanceCount": {"@minValue(1)", "@maxValue(100)"},
		} {
			got := strings.Join(decorators(src, name), "\n")
			requireAll(t, file+" param "+name, got, want...)
		}
		if p := params(src)["maximumInstanceCount"]; p.def != "40" {
			t.Errorf("%s: maximumInstanceCount default %s, want 40 (the Flex minimum)", file, p.def)
		}
	}
	fa := readText(t, "modules/functionapp.bicep")
	requireAll(t, "functionapp.bicep", fa, "maximumElasticWorkerCount: premiumMaximumInstanceCount",
		"functionAppScaleLimit: premiumMaximumInstanceCount", "      maximumInstanceCount: maximumInstanceCount\n")
	requireAll(t, "main.bicep functionapp module", moduleBlock(readText(t, "main.bicep"), "functionapp"),
		"premiumMaximumInstanceCount: premiumMaximumInstanceCount")
}

// TestPrivateNetworking: behind the privateNetworking parameter (default
// off), the network module integrates the app and creates private
// endpoints for Storage, Service Bus and Key Vault, which then refuse
// public access; Service Bus becomes Premium.
func TestPrivateNetworking(t *testing.T) {
	t.Parallel()
	main := readText(t, "main.bicep")
	if p := params(main)["privateNetworking"]; p.def != "false" {
		t.Errorf("privateNetworking default %q, want false", p.def)
	}
	requireAll(t, "main.bicep", main, "module network 'modules/network.bicep' = if (privateNetworking) {",
		"subnetId: privateNetworking ? network.outputs.appSubnetId : ''")
	for _, m := range []string{"storage", "servicebus", "keyvault"} {
		requireAll(t, "main.bicep module "+m, moduleBlock(main, m), "privateNetworking: privateNetworking")
		src := readText(t, "modules/"+m+".bicep")
		requireAll(t, m+".bicep", src, "publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'")
	}
	requireAll(t, "servicebus.bicep", readText(t, "modules/servicebus.bicep"),
		"sku: privateNetworking ? premiumSku : standardSku", "name: 'Premium'")
	net := readText(t, "modules/network.bicep")
	for _, g := range []string{"groupId: 'blob'", "groupId: 'table'", "groupId: 'namespace'", "groupId: 'vault'",
		"'Microsoft.App/environments'", "'Microsoft.Web/serverFarms'", "privateEndpointNetworkPolicies: 'Disabled'",
		"'Microsoft.Network/privateEndpoints@", "'Microsoft.Network/privateDnsZones@", "privateDnsZoneId: zones[i].id"} {
		requireAll(t, "network.bicep", net, g)
	}
	fa := readText(t, "modules/functionapp.bicep")
	requireAll(t, "functionapp.bicep", fa, "virtualNetworkSubnetId: empty(subnetId) ? null : subnetId",
		"vnetRouteAllEnabled: !empty(subnetId)")
	readme := readText(t, "README.md")
	requireAll(t, "infra/README.md", readme, "## Private networking", "Service Bus Premium", "per month")
}

// TestAppServiceAuth: the principal header is trusted exactly when the
// template turns App Service authentication on.
func TestAppServiceAuth(t *testing.T) {
	t.Parallel()
	main := readText(t, "main.bicep")
	set, _ := objectVar(main, "appSettings")
	if got := set["TRUST_CLIENT_PRINCIPAL_HEADER"]; got != "enableAppServiceAuth ? 'true' : 'false'" {
		t.Errorf("TRUST_CLIENT_PRINCIPAL_HEADER = %s, want enableAppServiceAuth ? 'true' : 'false'", got)
	}
	if p := params(main)["enableAppServiceAuth"]; p.def != "false" {
		t.Errorf("enableAppServiceAuth default %q, want false", p.def)
	}
	requireAll(t, "main.bicep functionapp module", moduleBlock(main, "functionapp"),
		"enableAppServiceAuth: enableAppServiceAuth", "authClientId: authClientId")
	auth := resourceBlock(readText(t, "modules/functionapp.bicep"), "auth")
	requireAll(t, "functionapp.bicep auth", auth, "= if (enableAppServiceAuth) {", "name: 'authsettingsV2'",
		"azureActiveDirectory: {", "clientId: authClientId", "requireAuthentication: true", "unauthenticatedClientAction: 'Return401'")
}

// TestStorageRoleScopes: Blob Data Owner on the deployment container, Blob
// Data Contributor on the host containers, Table Data Contributor on the
// state table; account scope only in the documented fallback.
func TestStorageRoleScopes(t *testing.T) {
	t.Parallel()
	src := readText(t, "modules/storage.bicep")
	for symbol, want := range map[string][]string{
		"blobOwner":               {"= if (!accountScopedRoles) {", "scope: deploymentContainer", "storageBlobDataOwner)"},
		"hostBlobContributor":     {"if (!accountScopedRoles) {", "scope: hostContainers[i]", "storageBlobDataContributor)"},
		"tableContributor":        {"= if (!accountScopedRoles) {", "scope: stateTable", "storageTableDataContributor)"},
		"accountBlobOwner":        {"= if (accountScopedRoles) {", "scope: storage\n"},
		"accountTableContributor": {"= if (accountScopedRoles) {", "scope: storage\n"},
	} {
		requireAll(t, "storage.bicep "+symbol, resourceBlock(src, symbol), want...)
	}
	if p := params(readText(t, "main.bicep"))["storageAccountScopedRoles"]; p.def != "false" {
		t.Errorf("storageAccountScopedRoles default %q, want false", p.def)
	}
	for _, b := range blocks(src, "Microsoft.Authorization/roleAssignments@") {
		if strings.Contains(b, "  scope: storage\n") && !strings.Contains(b, "if (accountScopedRoles)") {
			t.Errorf("an account-scoped storage role outside the fallback:\n%s", b)
		}
	}
}

var moduleRE = regexp.MustCompile(`(?m)^module (\w+) '(modules/[\w-]+\.bicep)' = `)

// TestModuleParams stands in for the Bicep compiler on module calls: every
// parameter main.bicep passes is declared by the module, every module
// parameter without a default is passed, and every module output main.bicep
// reads is declared.
func TestModuleParams(t *testing.T) {
	t.Parallel()
	main := readText(t, "main.bicep")
	calls := moduleRE.FindAllStringSubmatchIndex(main, -1)
	if len(calls) < 8 {
		t.Fatalf("found only %d module calls", len(calls))
	}
	keyRE := regexp.MustCompile(`^    (\w+):`)
	outputs := map[string]map[string]bool{} // module symbol -> its outputs
	for _, c := range calls {
		symbol, file := main[c[2]:c[3]], main[c[4]:c[5]]
		outputs[symbol] = map[string]bool{}
		for _, m := range outputRE.FindAllStringSubmatch(readText(t, file), -1) {
			outputs[symbol][m[1]] = true
		}
		block := main[c[0]:]
		block = block[:strings.Index(block, "\n}\n")]
		_, ps, ok := strings.Cut(block, "\n  params: {\n")
		if !ok {
			t.Errorf("module %s has no params block", symbol)
			continue
		}
		passed := map[string]bool{}
		for _, l := range strings.Split(ps, "\n") {
			if m := keyRE.FindStringSubmatch(l); m != nil {
				passed[m[1]] = true
			}
		}
		declared := params(readText(t, file))
		for name := range passed {
			if _, ok := declared[name]; !ok {
				t.Errorf("main.bicep passes %s to %s, which does not declare it", name, file)
			}
		}
		for name, p := range declared {
			if p.def == "" && !passed[name] {
				t.Errorf("main.bicep does not pass %s, required by %s", name, file)
			}
		}
	}
	// Every module output main.bicep reads exists.
	for _, m := range regexp.MustCompile(`\b(\w+)\.outputs\.(\w+)`).FindAllStringSubmatch(main, -1) {
		if outs, ok := outputs[m[1]]; !ok || !outs[m[2]] {
			t.Errorf("main.bicep reads %s.outputs.%s, which the module does not declare", m[1], m[2])
		}
	}
}
