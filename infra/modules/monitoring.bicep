// monitoring.bicep: a Log Analytics workspace of the app's own (never the
// Sentinel workspace: app telemetry would be billed as Sentinel ingestion)
// and a workspace-based Application Insights component with local
// (instrumentation-key) authentication disabled, so telemetry is accepted
// only with an Entra token: the app sends it as its managed identity, which
// gets Monitoring Metrics Publisher on the component.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Days the app telemetry is kept.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Object ID of the app identity (gets Monitoring Metrics Publisher on the component).')
param principalId string

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// Monitoring Metrics Publisher lets the identity send telemetry to a
// component with DisableLocalAuth (APPLICATIONINSIGHTS_AUTHENTICATION_STRING
// ClientId=…;Authorization=AAD). Scope: this component only.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Name of the Application Insights component.')
output appInsightsName string = appInsights.name

@description('Resource ID of the Application Insights component.')
output appInsightsId string = appInsights.id

@description('Resource ID of the app Log Analytics workspace.')
output logAnalyticsId string = logAnalytics.id
