// runrecords.bicep: deployed at the resource group of the existing Sentinel
// (Log Analytics) workspace when main.bicep's runRecords is true. Creates
// the custom table F2SRuns_CL in that workspace, a data collection rule
// (kind Direct: its own logs ingestion endpoint, no data collection
// endpoint needed without private link) whose stream Custom-F2SRuns_CL
// flows into the table unchanged, and grants the app identity Monitoring
// Metrics Publisher on that rule only, the role the Logs Ingestion API
// requires. The app writes one row per feed run, upload batch and
// submission (internal/runrecord); the stream declaration below is what
// the Go tests check the rows against.

@description('Name of the existing Sentinel workspace.')
param workspaceName string

@description('Name of the data collection rule.')
param dcrName string

@description('Object ID of the app identity.')
param principalId string

@description('Tags of the data collection rule.')
param tags object = {}

@description('Days the run records are kept in the table; -1 = the workspace default.')
param retentionInDays int = -1

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

// The columns of internal/runrecord.Row, in stream-declaration types.
var streamColumns = [
  {
    name: 'TimeGenerated'
    type: 'datetime'
  }
  {
    name: 'Function'
    type: 'string'
  }
  {
    name: 'Feed'
    type: 'string'
  }
  {
    name: 'Outcome'
    type: 'string'
  }
  {
    name: 'Fetched'
    type: 'long'
  }
  {
    name: 'Rejected'
    type: 'long'
  }
  {
    name: 'RejectedByReason'
    type: 'dynamic'
  }
  {
    name: 'New'
    type: 'long'
  }
  {
    name: 'Changed'
    type: 'long'
  }
  {
    name: 'Refreshed'
    type: 'long'
  }
  {
    name: 'Revoked'
    type: 'long'
  }
  {
    name: 'Enqueued'
    type: 'long'
  }
  {
    name: 'Uploaded'
    type: 'long'
  }
  {
    name: 'SentinelRejected'
    type: 'long'
  }
  {
    name: 'Parked'
    type: 'long'
  }
  {
    name: 'DeadLettered'
    type: 'long'
  }
  {
    name: 'DurationMs'
    type: 'long'
  }
  {
    name: 'Error'
    type: 'string'
  }
]

// The table spells datetime as dateTime.
var tableColumns = map(streamColumns, c => {
  name: c.name
  type: c.type == 'datetime' ? 'dateTime' : c.type
})

resource table 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: 'F2SRuns_CL'
  properties: {
    plan: 'Analytics'
    retentionInDays: retentionInDays
    schema: {
      name: 'F2SRuns_CL'
      description: 'feeds2sentinel run records: one row per feed run, upload batch and submission.'
      columns: tableColumns
    }
  }
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: dcrName
  location: workspace.location
  tags: tags
  kind: 'Direct'
  properties: {
    description: 'feeds2sentinel run records into F2SRuns_CL (Logs Ingestion API).'
    streamDeclarations: {
      'Custom-F2SRuns_CL': {
        columns: streamColumns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'sentinel'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          'Custom-F2SRuns_CL'
        ]
        destinations: [
          'sentinel'
        ]
        transformKql: 'source'
        outputStream: 'Custom-F2SRuns_CL'
      }
    ]
  }
  dependsOn: [
    table
  ]
}

var metricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dcr.id, principalId, metricsPublisher)
  scope: dcr
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Logs ingestion endpoint of the rule: RUN_RECORDS_ENDPOINT.')
output endpoint string = dcr.properties.endpoints.logsIngestion

@description('Immutable id of the rule: RUN_RECORDS_DCR_ID.')
output immutableId string = dcr.properties.immutableId

@description('Stream the app writes to: RUN_RECORDS_STREAM.')
output stream string = 'Custom-F2SRuns_CL'
