// identity.bicep: the user-assigned managed identity the function app uses
// for everything (host storage, Service Bus, Key Vault references,
// Application Insights, the state table and the Sentinel upload API).

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource ID of the identity.')
output id string = identity.id

@description('Client (application) ID of the identity: AZURE_CLIENT_ID.')
output clientId string = identity.properties.clientId

@description('Object (principal) ID of the identity, the role assignee.')
output principalId string = identity.properties.principalId

@description('Name of the identity.')
output name string = identity.name
