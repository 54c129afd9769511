// keyvault.bicep: a Key Vault in RBAC mode holding the abuse.ch Auth-Key.
// The function app reads it through a Key Vault reference resolved with its
// user-assigned identity (keyVaultReferenceIdentity), never as a plain app
// setting. The secret is written through ARM (control plane), so the
// deployer needs no data-plane role on the vault. Purge protection is on: a
// deleted vault or secret cannot be purged before its retention ends. Its
// audit logs go to the app's Log Analytics workspace; with private
// networking, public network access is disabled.

@description('Key Vault name (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Name of the secret holding the abuse.ch Auth-Key.')
param secretName string

@description('abuse.ch Auth-Key. Empty = do not write the secret (keep the stored one, or none).')
@secure()
param abuseChAuthKey string = ''

@description('Whether the secret exists after this deployment (written now, or stored earlier).')
param secretConfigured bool

@description('Object ID of the app identity (gets Key Vault Secrets User on the secret).')
param principalId string

@description('Resource ID of the Log Analytics workspace receiving the audit logs and metrics.')
param logAnalyticsId string

@description('Private networking: refuse public network access (the app uses a private endpoint).')
param privateNetworking bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // Once on, purge protection cannot be turned off: a deleted vault keeps
    // its name for the 7-day retention and cannot be purged earlier.
    enablePurgeProtection: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(abuseChAuthKey)) {
  parent: vault
  name: secretName
  properties: {
    value: abuseChAuthKey
    contentType: 'abuse.ch Auth-Key'
  }
}

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

// Key Vault Secrets User on the one secret, not the vault. The scope is
// built from its name so it also works when the secret was stored earlier
// and is not written in this deployment.
resource secretRef 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: secretName
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (secretConfigured) {
  name: guid(vault.id, secretName, principalId, keyVaultSecretsUser)
  scope: secretRef
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    secret
  ]
}

@description('Name of the vault.')
output name string = vault.name

@description('Resource ID of the vault.')
output id string = vault.id
