// storage.bicep: the Functions host storage account (AzureWebJobsStorage),
// which also holds the Flex Consumption deployment package container and
// the indicator-state table. Shared-key access is disabled: the host, the
// deployment and the state store all authenticate as the app identity. Its
// blob and table logs and transaction metrics go to the app's Log Analytics
// workspace; with private networking, public network access is disabled
// (the app reaches it through private endpoints, modules/network.bicep).

@description('Storage account name (3-24 lower-case letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Blob container holding the deployment package (Flex Consumption deployment storage, or the WEBSITE_RUN_FROM_PACKAGE blob on Elastic Premium).')
param deploymentContainerName string

@description('Table holding indicator state, run status and fetch cursors (STATE_TABLE_NAME).')
param stateTableName string

@description('Object ID of the app identity.')
param principalId string

@description('Resource ID of the Log Analytics workspace receiving the diagnostic logs and metrics.')
param logAnalyticsId string

@description('Private networking: refuse public network access (the app uses private endpoints).')
param privateNetworking bool = false

@description('Assign the blob and table roles on the whole account instead of the containers and the state table (fallback, see the role comments).')
param accountScopedRoles bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// The state store also creates the table at start (CreateTable, tolerating
// TableAlreadyExists); creating it here makes the first run independent of
// that call.
resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTableName
}

// The host's own containers, created here so that the app identity needs
// no right to create containers on the account: azure-webjobs-hosts (host
// id, timer schedule monitors, singleton locks) and azure-webjobs-secrets
// (function keys).
var hostContainerNames = [
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for c in hostContainerNames: {
  parent: blobService
  name: c
  properties: {
    publicAccess: 'None'
  }
}]

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor

// Storage Blob Data Owner on the deployment container only: Flex
// Consumption writes and reads the package there with the app identity.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!accountScopedRoles) {
  name: guid(deploymentContainer.id, principalId, storageBlobDataOwner)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on each host container (blobs and leases;
// the containers exist, so creating them is never needed). That the host
// starts with container-scoped rights only is NOT CONFIRMED: if it fails
// with 403 on start, deploy with accountScopedRoles=true.
resource hostBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (c, i) in hostContainerNames: if (!accountScopedRoles) {
  name: guid(hostContainers[i].id, principalId, storageBlobDataContributor)
  scope: hostContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// Storage Table Data Contributor on the state table only (the state store
// uses no other table). The table exists (above); whether Create Table,
// which the store calls at start, is authorized by a table-scoped
// assignment is NOT CONFIRMED: the store must treat a refusal of that call
// as harmless when the table exists, or deploy with accountScopedRoles=true.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!accountScopedRoles) {
  name: guid(stateTable.id, principalId, storageTableDataContributor)
  scope: stateTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The fallback (accountScopedRoles=true), as before: Blob Data Owner and
// Table Data Contributor on the account, which also lets the host create
// containers and the store create its table.
resource accountBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (accountScopedRoles) {
  name: guid(storage.id, principalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource accountTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (accountScopedRoles) {
  name: guid(storage.id, principalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Diagnostics to the app's Log Analytics workspace: the account has
// metrics only; its blob and table services have the logs.
resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: storage
  properties: {
    workspaceId: logAnalyticsId
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: tableService
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

// Storage Queue Data Contributor is deliberately NOT assigned: the app uses
// no Storage queues (its queue is Service Bus), the host needs them only for
// blob triggers and Durable Functions, which this app has none of, and the
// role's GUID is NOT CONFIRMED in the reference material.

@description('Name of the storage account.')
output name string = storage.name

@description('Resource ID of the storage account.')
output id string = storage.id

@description('Blob endpoint of the storage account, e.g. https://st….blob.core.windows.net/.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Name of the deployment package container.')
output deploymentContainerName string = deploymentContainer.name

@description('Name of the state table.')
output stateTableName string = stateTable.name
