// servicebus.bicep: the Service Bus namespace, the upload queue the feed
// functions send batches to (and UploadIndicators is triggered by), the
// parked queue for batches Sentinel rejected for good, and the app
// identity's data-plane roles, each scoped to one queue.
//
// The values below are tied to the uploader's time budget:
//   host.json functionTimeout 00:10:00 > INVOCATION_TIMEOUT 9m (the
//   handler's own deadline for one upload, including its 429/5xx retries),
//   and host.json serviceBus.maxAutoLockRenewalDuration 00:10:00, so the
//   host keeps renewing a lockDuration-long lock for the whole invocation.

@description('Namespace name (6-50 characters, globally unique).')
@minLength(6)
@maxLength(50)
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Upload queue name (SERVICEBUS_QUEUE). The parked queue is <queueName>-parked.')
param queueName string

@description('Deliveries of one batch before it is dead-lettered.')
@minValue(1)
param maxDeliveryCount int = 10

@description('ISO 8601 time to live of an upload batch; expired batches are dead-lettered.')
param messageTimeToLive string = 'P2D'

@description('ISO 8601 duplicate-detection window of the upload queue.')
param duplicateDetectionWindow string = 'PT1H'

@description('ISO 8601 time to live of a parked batch.')
param parkedMessageTimeToLive string = 'P14D'

@description('Grant Azure Service Bus Data Owner on the upload queue (see the comment at the assignment).')
param grantOwnerForScaling bool = true

@description('Object ID of the app identity.')
param principalId string

@description('Resource ID of the Log Analytics workspace receiving the diagnostic logs and metrics.')
param logAnalyticsId string

@description('Private networking: Premium tier (private endpoints need it) and no public network access.')
param privateNetworking bool = false

// Standard: duplicate detection (and so idempotent re-sends of a batch with
// the same content-derived MessageId) is not available on Basic. Private
// endpoints need Premium (one messaging unit), which keeps duplicate
// detection and sessions.
var standardSku = {
  name: 'Standard'
  tier: 'Standard'
}

var premiumSku = {
  name: 'Premium'
  tier: 'Premium'
  capacity: 1
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: privateNetworking ? premiumSku : standardSku
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true // Entra ID only: no SAS keys, no connection strings
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: namespace
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

resource uploadQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    // PT5M is the maximum lock. The host renews it until
    // maxAutoLockRenewalDuration (10 min), which covers INVOCATION_TIMEOUT
    // (9m); a longer upload loses the lock and the batch is redelivered.
    lockDuration: 'PT5M'
    // A failed upload (non-2xx from the handler: Sentinel 5xx/429 after the
    // client's own retries within one invocation, or a timeout) is abandoned
    // and redelivered at once. 10 deliveries of up to 9 minutes each ride out
    // a Sentinel throttling or outage episode of roughly an hour before the
    // batch is dead-lettered (and the dead-letter alert fires); `handler
    // replay` moves it back. Permanent rejections (400/401/403/404) do not
    // use this path: the handler parks them on <queue>-parked and completes.
    maxDeliveryCount: maxDeliveryCount
    // A batch not uploaded within two days means the pipeline is broken: it
    // goes to the dead-letter queue rather than vanishing (alert + replay).
    // Indicator lifetimes (14d+) and the 7d refresh make older batches stale.
    defaultMessageTimeToLive: messageTimeToLive
    deadLetteringOnMessageExpiration: true
    // MessageId is a hash of the batch content, so a feed run retried after
    // a partial failure (or re-run after a host restart) does not enqueue the
    // same batch twice. One hour covers a timer's retries and the next 15-min
    // run; replayed batches get a new MessageId. Cannot be changed after the
    // queue exists.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    // Every message carries the session id "sentinel-upload" and the
    // UploadIndicators trigger has isSessionsEnabled with
    // maxConcurrentSessions 1 (host.json): only one instance holds the
    // session at a time, so uploads are serialized across however many
    // instances Flex runs, and the handler's per-process limiter
    // (SENTINEL_REQUESTS_PER_MINUTE, default 100) bounds the whole app under
    // Sentinel's 100 requests/minute per identity. Cannot be changed after
    // the queue exists.
    requiresSession: true
    enablePartitioning: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

resource parkedQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: '${queueName}-parked'
  properties: {
    lockDuration: 'PT5M'
    // Very high on purpose: nothing in the app receives from this queue,
    // but `handler replay --reason/--max` may have to receive (and then
    // abandon, which counts a delivery) skipped batches that sit before the
    // ones it moves. With the default 10, a batch skipped by ten such
    // replays would be dead-lettered to <queue>-parked/$DeadLetterQueue
    // (replay reads that sub-queue too, so it would still not be lost).
    // Range: minimum 1, no documented maximum (the ARM schema types it as a
    // plain int; Service Bus clients such as NServiceBus create queues with
    // int.MaxValue), so 2000 is valid.
    maxDeliveryCount: 2000
    // Parked batches wait for an operator (`handler replay --from parked`).
    // After 14 days they are superseded: the 7d refresh has re-uploaded every
    // indicator a source still lists, so expiry discards them.
    defaultMessageTimeToLive: parkedMessageTimeToLive
    deadLetteringOnMessageExpiration: false
    requiresDuplicateDetection: false
    requiresSession: false
    enablePartitioning: false
    maxSizeInMegabytes: 1024
  }
}

var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
var serviceBusDataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419' // Azure Service Bus Data Owner

// Sender on the upload queue: the feed functions and submissions enqueue
// batches with azservicebus.
resource uploadSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(uploadQueue.id, principalId, serviceBusDataSender)
  scope: uploadQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Receiver on the upload queue: the UploadIndicators trigger.
resource uploadReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(uploadQueue.id, principalId, serviceBusDataReceiver)
  scope: uploadQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Data Owner on the upload queue only. Microsoft's samples grant it to the
// trigger identity because reading queue runtime properties (message counts
// for target-based scaling) is a manage operation; whether Receiver alone
// lets Flex Consumption scale from zero on this queue is NOT CONFIRMED, so
// the conservative choice is on by default. Set grantOwnerForScaling=false
// to try without it (and watch that UploadIndicators still starts).
resource uploadOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantOwnerForScaling) {
  name: guid(uploadQueue.id, principalId, serviceBusDataOwner)
  scope: uploadQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Sender on the parked queue: UploadIndicators parks permanently rejected
// batches. Nothing in the app receives from it (`handler replay` runs with
// the operator's own credentials).
resource parkedSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(parkedQueue.id, principalId, serviceBusDataSender)
  scope: parkedQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Name of the namespace.')
output name string = namespace.name

@description('Resource ID of the namespace.')
output id string = namespace.id

@description('Fully qualified namespace host, e.g. sb-….servicebus.windows.net (from serviceBusEndpoint https://<host>:443/, so sovereign clouds work too).')
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]

@description('Name of the upload queue.')
output queueName string = uploadQueue.name

@description('Name of the parked queue.')
output parkedQueueName string = parkedQueue.name
