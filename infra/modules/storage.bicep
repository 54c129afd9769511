// storage.bicep: the Functions host storage account (AzureWebJobsStorage),
// which also holds the Flex Consumption deployment package container and
// the indicator-state table. Shared-key access is disabled: the host, the
// deployment and the state store all authenticate as the app identity.

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
    publicNetworkAccess: 'Enabled'
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

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor

// Storage Blob Data Owner on the account: the host creates and leases its
// own containers (azure-webjobs-hosts for timer schedule monitors and
// singleton locks, azure-webjobs-secrets for function keys) and reads the
// deployment package, so a container scope is not enough.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor for the state store. Scoped to the account,
// not the table: the store calls Create Table at start, and whether a
// table-scoped assignment authorizes that call is NOT CONFIRMED, so the
// conservative (working) scope is taken. The account holds no other tables
// with data the app must not see.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
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
