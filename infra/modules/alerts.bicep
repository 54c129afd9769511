// alerts.bicep: the pipeline's three failure signals, sent to an optional
// action group (without one the alerts still fire and show in Azure Monitor).
//   1. a batch was dead-lettered (or parked) on Service Bus,
//   2. a function invocation failed,
//   3. no batch was uploaded to Sentinel for 24 hours.

@description('Azure region of the log alert rules.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Prefix of the alert rule names.')
param namePrefix string

@description('Resource ID of an existing action group; empty = no notifications.')
param actionGroupId string = ''

@description('Service Bus namespace name.')
param serviceBusName string

@description('Upload queue name.')
param queueName string

@description('Parked queue name.')
param parkedQueueName string

@description('Application Insights component name.')
param appInsightsName string

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var metricActions = empty(actionGroupId) ? [] : [
  {
    actionGroupId: actionGroupId
  }
]

var logActions = {
  actionGroups: empty(actionGroupId) ? [] : [
    actionGroupId
  ]
}

// DeadletteredMessages is a namespace metric with an EntityName dimension:
// any batch in the upload queue's dead-letter queue (maxDeliveryCount
// exceeded or TTL expired) means indicators are not reaching Sentinel until
// someone runs `handler replay`.
resource deadLetter 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-deadletter'
  location: 'global'
  tags: tags
  properties: {
    description: 'feeds2sentinel: upload batches were dead-lettered on ${queueName}. Inspect, then run handler replay.'
    severity: 2
    enabled: true
    scopes: [
      namespace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                queueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Average' // the metric's documented aggregation; > 0 whenever any message is there
        }
      ]
    }
    actions: metricActions
  }
}

// Batches on the parked queue were rejected by Sentinel for good
// (400/401/403/404): typically a missing role or a wrong workspace ID.
resource parked 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-parked'
  location: 'global'
  tags: tags
  properties: {
    description: 'feeds2sentinel: Sentinel rejected batches permanently; they wait on ${parkedQueueName}.'
    severity: 2
    enabled: true
    scopes: [
      namespace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Parked'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                parkedQueueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Average' // the metric's documented aggregation; > 0 whenever any message is there
        }
      ]
    }
    actions: metricActions
  }
}

// Every function invocation is an App Insights request (host.json excludes
// Request from sampling, so none is dropped); success == false is a failed
// invocation: a handler non-2xx or a timeout.
resource failures 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-function-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}: function failures'
    description: 'feeds2sentinel: one or more function invocations failed in the last 15 minutes.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'requests | where success == false | summarize failures = count() by operation_Name'
          timeAggregation: 'Total'
          metricMeasureColumn: 'failures'
          dimensions: [
            {
              name: 'operation_Name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: logActions
  }
}

// The handler logs one JSON line with "msg":"batch uploaded" to stdout per
// batch Sentinel accepted (UploadIndicators); the host forwards stdout to App
// Insights traces. Feeds such as ThreatFox and URLhaus publish new
// indicators every few minutes and the 7-day refresh re-uploads the rest, so
// a silent day means the pipeline is stuck. Caveat: host.json samples traces
// (only Request is excluded); at one line per batch sampling seldom drops
// all of a day's lines, but it can thin them.
resource noUpload 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-no-upload-24h'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}: no upload to Sentinel in 24 hours'
    description: 'feeds2sentinel: no batch was uploaded to Sentinel in the last 24 hours.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'P1D'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'traces | where message has "batch uploaded"'
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: logActions
  }
}
