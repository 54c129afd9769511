// sentinel-access.bicep: deployed at the resource group of the existing
// Sentinel (Log Analytics) workspace, which may be in another resource group
// or subscription. Grants the app identity Microsoft Sentinel Contributor on
// that workspace only (the role the threat-intelligence upload API requires)
// and reads the workspace GUID so users need not paste it.

@description('Name of the existing Sentinel workspace.')
param workspaceName string

@description('Object ID of the app identity.')
param principalId string

@description('Assign the role (false when someone else grants it; see infra/README.md).')
param assignRole bool = true

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

var sentinelContributor = 'ab8e14d6-4a74-4a29-9ba8-549422addade' // Microsoft Sentinel Contributor

resource contributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignRole) {
  name: guid(workspace.id, principalId, sentinelContributor)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Workspace ID (customer ID, a GUID) of the Sentinel workspace: SENTINEL_WORKSPACE_ID.')
output customerId string = workspace.properties.customerId

@description('Resource ID of the Sentinel workspace.')
output id string = workspace.id
