// main.bicep: feeds2sentinel in one deployment at subscription scope. It
// creates the resource group and, through one module per concern, the
// managed identity, host storage (+ state table), Application Insights on
// its own Log Analytics workspace, Service Bus (upload + parked queues), Key
// Vault (abuse.ch Auth-Key), the function app (Flex Consumption, or Elastic
// Premium), every role assignment (each on the narrowest scope that works,
// including Microsoft Sentinel Contributor on the existing Sentinel
// workspace, wherever it lives), diagnostic settings of Key Vault, Storage,
// Service Bus and the function app to the app's Log Analytics workspace,
// and the alerts; optionally a private network (modules/network.bicep) and
// App Service authentication with Entra ID. Nothing is left to click.
//
// Plain Bicep only (no preview language features); every resource API
// version is pinned and listed in infra/README.md. infra/infra_test.go
// cross-checks this file against the Go code (settings, functions, roles).

targetScope = 'subscription'

// ---- Placement and naming ----

@description('Name of the environment (azd environment name): prefixes resource names and tags everything azd-env-name.')
@minLength(1)
@maxLength(20)
param environmentName string

@description('Azure region of every new resource. Flex Consumption with the custom runtime must be offered there (az functionapp list-flexconsumption-locations).')
param location string

@description('Resource group to create; empty = rg-<environmentName>.')
param resourceGroupName string = ''

@description('Extra tags for every resource.')
param tags object = {}

// ---- Hosting ----

@description('FlexConsumption (FC1, default) or ElasticPremium where Flex is not available in the region.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption maximum instances: Flex refuses fewer than 40 (stacks data: 40-1000). Sentinel allows 100 upload requests per minute per identity across all instances; uploads are serialized through one Service Bus session and throttled (SENTINEL_REQUESTS_PER_MINUTE), with back-off on 429.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Elastic Premium maximum burst (hostingPlan ElasticPremium only), 1-100.')
@minValue(1)
@maxValue(100)
param premiumMaximumInstanceCount int = 40

@description('Elastic Premium SKU (hostingPlan ElasticPremium only).')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

// ---- The existing Sentinel workspace ----

@description('Resource ID of the existing Sentinel (Log Analytics) workspace. Alternatively leave empty and give sentinelSubscriptionId, sentinelResourceGroupName and sentinelWorkspaceName.')
param sentinelWorkspaceResourceId string = ''

@description('Subscription of the Sentinel workspace (when sentinelWorkspaceResourceId is empty); default: this subscription.')
param sentinelSubscriptionId string = subscription().subscriptionId

@description('Resource group of the Sentinel workspace (when sentinelWorkspaceResourceId is empty).')
param sentinelResourceGroupName string = ''

@description('Name of the Sentinel workspace (when sentinelWorkspaceResourceId is empty).')
param sentinelWorkspaceName string = ''

@description('Workspace ID (GUID) of the Sentinel workspace; empty = read from the workspace (properties.customerId).')
param sentinelWorkspaceId string = ''

@description('Assign Microsoft Sentinel Contributor on the workspace to the app identity. Set false when the deployer cannot assign roles there; then grant it by hand (infra/README.md).')
param assignSentinelRole bool = true

// ---- Secrets ----

@description('abuse.ch Auth-Key (free at https://auth.abuse.ch/), stored in Key Vault. Empty = keep the stored key (with abuseChAuthKeyInVault) or run without one.')
@secure()
param abuseChAuthKey string = ''

@description('The Auth-Key secret is already in the vault (an earlier deployment, or az keyvault secret set): reference it even when abuseChAuthKey is empty.')
param abuseChAuthKeyInVault bool = false

// ---- Service Bus ----

@description('Upload queue (SERVICEBUS_QUEUE); the parked queue is <queueName>-parked.')
param queueName string = 'sentinel-upload'

@description('Deliveries of one upload batch before it is dead-lettered.')
@minValue(1)
param maxDeliveryCount int = 10

@description('Time to live of an upload batch (ISO 8601); expired batches are dead-lettered.')
param messageTimeToLive string = 'P2D'

@description('Duplicate-detection window of the upload queue (ISO 8601). Fixed once the queue exists.')
param duplicateDetectionWindow string = 'PT1H'

@description('Time to live of a parked batch (ISO 8601).')
param parkedMessageTimeToLive string = 'P14D'

@description('Grant Azure Service Bus Data Owner on the upload queue for trigger scaling (see modules/servicebus.bicep).')
param serviceBusGrantOwnerForScaling bool = true

// ---- App settings the code reads (defaults as in internal/config) ----

@description('SENTINEL_API: stix-objects (STIX objects upload API) or legacy (upload-indicators API).')
@allowed([
  'stix-objects'
  'legacy'
])
param sentinelApi string = 'stix-objects'

@description('SENTINEL_SOURCE_SYSTEM: source system of every upload. Keep it stable.')
@minLength(1)
@maxLength(256)
param sentinelSourceSystem string = 'feeds2sentinel'

@description('SENTINEL_REQUESTS_PER_MINUTE: client-side upload request limit per instance.')
@minValue(1)
@maxValue(100)
param sentinelRequestsPerMinute int = 100

@description('STATE_TABLE_NAME: table of indicator state in the host storage account.')
param stateTableName string = 'feeds2sentinel'

@description('INDICATOR_REFRESH_INTERVAL: re-upload a still-listed indicator after this long (at most 13d).')
param indicatorRefreshInterval string = '7d'

@description('REVOCATION_GRACE_PERIOD: how long a complete-list source may omit an indicator before it is revoked.')
param revocationGracePeriod string = '48h'

@description('ALLOWLIST_EXTRA: extra allowlist entries (IP, CIDR, domain, *.domain), comma-separated.')
param allowlistExtra string = ''

@description('ALLOWLIST_REPLACE_BUILTIN: use only allowlistExtra, not the built-in allowlist.')
param allowlistReplaceBuiltin bool = false

@description('DEFAULT_TLP: TLP 2.0 marking of feed indicators.')
@allowed([
  'clear'
  'green'
  'amber'
  'amber+strict'
  'red'
])
param defaultTlp string = 'clear'

@description('MANUAL_CONFIDENCE: confidence of submitted indicators that state none.')
@minValue(0)
@maxValue(100)
param manualConfidence int = 70

@description('MANUAL_LIFETIME: lifetime of submitted indicators that state none.')
param manualLifetime string = '30d'

@description('LOG_LEVEL: debug, info, warn or error.')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('Per-feed overrides of enabled and schedule (6-field NCRONTAB, UTC), e.g. {"urlhaus-api": {"enabled": true}}. Keys: the built-in feed names.')
param feedOverrides object = {}

@description('FEED_USERLISTS_SCHEDULE: NCRONTAB schedule of FeedUserLists (runs every user-defined FEED_<NAME>_URL list).')
param userListsSchedule string = '0 50 * * * *'

@description('Optional settings merged over the ones above (FEED_<NAME>_URL user lists, FEED_<NAME>_CONFIDENCE, LIFETIME_<TYPE>, …; see infra/README.md). Never put secrets here: they would be plain app settings.')
param extraAppSettings object = {}

// ---- Network and access (optional) ----

@description('Private networking: a virtual network for the app (integration subnet) with private endpoints for Storage, Service Bus and Key Vault, whose public network access is then disabled. Service Bus becomes Premium (private endpoints need it): see the cost in infra/README.md.')
param privateNetworking bool = false

@description('Address space of the virtual network (privateNetworking only).')
param vnetAddressPrefix string = '10.60.0.0/16'

@description('App integration subnet (privateNetworking only; Flex Consumption: at least /27).')
param appSubnetPrefix string = '10.60.0.0/24'

@description('Private endpoint subnet (privateNetworking only).')
param privateEndpointSubnetPrefix string = '10.60.1.0/24'

@description('Turn on App Service authentication with Entra ID (authClientId required): HTTP calls then need a token, and submissions are attributed to the caller (TRUST_CLIENT_PRINCIPAL_HEADER=true). Off: the principal header is ignored.')
param enableAppServiceAuth bool = false

@description('Client (application) ID of the Entra app registration callers get tokens for (enableAppServiceAuth only).')
param authClientId string = ''

@description('Fallback: assign Storage Blob Data Owner and Table Data Contributor on the whole host storage account instead of the containers and the state table (see modules/storage.bicep).')
param storageAccountScopedRoles bool = false

// ---- Run records in the Sentinel workspace (optional) ----

@description('Write one row per feed run, upload batch and submission to the custom table F2SRuns_CL of the Sentinel workspace (Logs Ingestion API): creates the table and a data collection rule there and grants the app identity Monitoring Metrics Publisher on the rule. Needs the right to create tables, data collection rules and role assignments in the Sentinel workspace\'s resource group; off by default.')
param runRecords bool = false

@description('Days the run records are kept (runRecords only); -1 = the workspace default.')
@minValue(-1)
@maxValue(730)
param runRecordsRetentionInDays int = -1

// ---- Monitoring ----

@description('Resource ID of an existing action group for the alerts; empty = alerts without notifications.')
param actionGroupId string = ''

@description('Days the app telemetry is kept in its Log Analytics workspace.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// ---- Sentinel workspace content (issue 14; modules/sentinel-content.bicep) ----
// All off by default: deploying rules and workbooks into the Sentinel
// workspace needs Microsoft Sentinel Contributor there for whoever deploys.

@description('Deploy the feeds2sentinel workbook (pipeline health, indicators, alerts per feed) into the Sentinel workspace resource group.')
param deployWorkbook bool = false

@description('Deploy the analytic rules that match our indicators over the ASIM parsers: IP, CIDR, domain, URL, file hashes.')
param deployDetectionRules bool = false

@description('Deploy the email-address indicator rule (needs the Defender XDR EmailEvents table in the workspace).')
param deployEmailRule bool = false

@description('Deploy the certificate SHA-1 indicator rule (needs the Corelight connector table Corelight_v2_files_CL).')
param deployCertificateRule bool = false

@description('Deploy the health rules over the run-records table F2SRuns_CL (stale feeds, rejected or parked uploads, reconciliation).')
param deployHealthRules bool = false

@description('Health: alert when a feed has not succeeded for this many of its intervals.')
@minValue(1)
param healthMissedIntervals int = 3

// ---- Names ----

var token = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var rgName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var abuseChSecretName = 'abusech-auth-key'
var abuseChSecretConfigured = !empty(abuseChAuthKey) || abuseChAuthKeyInVault

// The Sentinel workspace, from its resource ID or its three parts:
// /subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.OperationalInsights/workspaces/{2}
var sentinelIdFromParts = '/subscriptions/${sentinelSubscriptionId}/resourceGroups/${sentinelResourceGroupName}/providers/Microsoft.OperationalInsights/workspaces/${sentinelWorkspaceName}'
var sentinelId = empty(sentinelWorkspaceResourceId) ? sentinelIdFromParts : sentinelWorkspaceResourceId
var sentinelParts = split(sentinelId, '/')

// Built-in feeds with their default enabled flag and schedule (as in
// internal/config builtinFeeds; a test keeps them equal), merged with
// feedOverrides per feed.
var defaultFeeds = {
  threatfox: {
    enabled: true
    schedule: '0 */15 * * * *'
  }
  'threatfox-csv': {
    enabled: false
    schedule: '0 5 * * * *'
  }
  urlhaus: {
    enabled: true
    schedule: '0 */15 * * * *'
  }
  'urlhaus-api': {
    enabled: false
    schedule: '0 */30 * * * *'
  }
  feodotracker: {
    enabled: true
    schedule: '0 */30 * * * *'
  }
  malwarebazaar: {
    enabled: true
    schedule: '0 10 * * * *'
  }
  sslbl: {
    enabled: true
    schedule: '0 20 * * * *'
  }
  openphish: {
    enabled: true
    schedule: '0 30 */6 * * *'
  }
  'spamhaus-drop': {
    enabled: true
    schedule: '0 40 */6 * * *'
  }
}
var feeds = toObject(items(defaultFeeds), f => f.key, f => union(f.value, contains(feedOverrides, f.key) ? feedOverrides[f.key] : {}))

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: rgName
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'f2s-identity'
  scope: rg
  params: {
    name: 'id-${environmentName}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'f2s-monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${environmentName}-${token}'
    appInsightsName: 'appi-${environmentName}-${token}'
    location: location
    tags: allTags
    retentionInDays: logRetentionInDays
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'f2s-storage'
  scope: rg
  params: {
    name: 'st${token}'
    location: location
    tags: allTags
    deploymentContainerName: 'app-package'
    stateTableName: stateTableName
    principalId: identity.outputs.principalId
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    privateNetworking: privateNetworking
    accountScopedRoles: storageAccountScopedRoles
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'f2s-servicebus'
  scope: rg
  params: {
    name: 'sb-${environmentName}-${token}'
    location: location
    tags: allTags
    queueName: queueName
    maxDeliveryCount: maxDeliveryCount
    messageTimeToLive: messageTimeToLive
    duplicateDetectionWindow: duplicateDetectionWindow
    parkedMessageTimeToLive: parkedMessageTimeToLive
    grantOwnerForScaling: serviceBusGrantOwnerForScaling
    principalId: identity.outputs.principalId
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    privateNetworking: privateNetworking
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'f2s-keyvault'
  scope: rg
  params: {
    name: 'kv-${token}'
    location: location
    tags: allTags
    secretName: abuseChSecretName
    abuseChAuthKey: abuseChAuthKey
    secretConfigured: abuseChSecretConfigured
    principalId: identity.outputs.principalId
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    privateNetworking: privateNetworking
  }
}

module network 'modules/network.bicep' = if (privateNetworking) {
  name: 'f2s-network'
  scope: rg
  params: {
    name: 'vnet-${environmentName}-${token}'
    location: location
    tags: allTags
    hostingPlan: hostingPlan
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: appSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
    storageAccountId: storage.outputs.id
    serviceBusId: serviceBus.outputs.id
    keyVaultId: keyVault.outputs.id
  }
}

// Deployed at the Sentinel workspace's own resource group, in whatever
// subscription it is: the role assignment is scoped to that workspace.
module sentinel 'modules/sentinel-access.bicep' = {
  name: 'f2s-sentinel-${environmentName}'
  scope: resourceGroup(sentinelParts[2], sentinelParts[4])
  params: {
    workspaceName: sentinelParts[8]
    principalId: identity.outputs.principalId
    assignRole: assignSentinelRole
  }
}

// Analytic rules, health rules and the workbook in the Sentinel workspace
// (each behind its switch above), deployed at the workspace's resource group.
module sentinelContent 'modules/sentinel-content.bicep' = if (deployWorkbook || deployDetectionRules || deployEmailRule || deployCertificateRule || deployHealthRules) {
  name: 'f2s-sentinel-content-${environmentName}'
  scope: resourceGroup(sentinelParts[2], sentinelParts[4])
  params: {
    workspaceName: sentinelParts[8]
    location: location
    sourceSystem: sentinelSourceSystem
    deployDetectionRules: deployDetectionRules
    deployEmailRule: deployEmailRule
    deployCertificateRule: deployCertificateRule
    deployHealthRules: deployHealthRules
    healthMissedIntervals: healthMissedIntervals
    deployWorkbook: deployWorkbook
    tags: allTags
  }
}

// Run records: the custom table and the data collection rule live with the
// Sentinel workspace (the rule in the workspace's region).
module runRecordsTable 'modules/runrecords.bicep' = if (runRecords) {
  name: 'f2s-runrecords-${environmentName}'
  scope: resourceGroup(sentinelParts[2], sentinelParts[4])
  params: {
    workspaceName: sentinelParts[8]
    dcrName: 'dcr-${environmentName}-runs'
    principalId: identity.outputs.principalId
    tags: allTags
    retentionInDays: runRecordsRetentionInDays
  }
}

// Every setting internal/config reads that Azure must set (config.Settings()
// with Azure == true), except the identity-wired ones (AZURE_CLIENT_ID,
// AzureWebJobsStorage__accountName, ServiceBusConnection__*,
// ABUSECH_AUTH_KEY), which modules/functionapp.bicep adds.
var appSettings = {
  SENTINEL_WORKSPACE_ID: empty(sentinelWorkspaceId) ? sentinel.outputs.customerId : sentinelWorkspaceId
  SENTINEL_API: sentinelApi
  SENTINEL_SOURCE_SYSTEM: sentinelSourceSystem
  SENTINEL_REQUESTS_PER_MINUTE: string(sentinelRequestsPerMinute)
  SERVICEBUS_QUEUE: queueName
  SERVICEBUS_PARKED_QUEUE: '${queueName}-parked'
  SERVICEBUS_MAX_DELIVERY_COUNT: string(maxDeliveryCount)
  STATE_TABLE_NAME: stateTableName
  INDICATOR_REFRESH_INTERVAL: indicatorRefreshInterval
  REVOCATION_GRACE_PERIOD: revocationGracePeriod
  ALLOWLIST_EXTRA: allowlistExtra
  ALLOWLIST_REPLACE_BUILTIN: allowlistReplaceBuiltin ? 'true' : 'false'
  DEFAULT_TLP: defaultTlp
  MANUAL_CONFIDENCE: string(manualConfidence)
  MANUAL_LIFETIME: manualLifetime
  TRUST_CLIENT_PRINCIPAL_HEADER: enableAppServiceAuth ? 'true' : 'false'
  LOG_LEVEL: logLevel
  RUN_RECORDS_ENDPOINT: runRecords ? runRecordsTable.outputs.endpoint : ''
  RUN_RECORDS_DCR_ID: runRecords ? runRecordsTable.outputs.immutableId : ''
  RUN_RECORDS_STREAM: runRecords ? runRecordsTable.outputs.stream : 'Custom-F2SRuns_CL'
  FEED_THREATFOX_ENABLED: toLower(string(feeds.threatfox.enabled))
  FEED_THREATFOX_SCHEDULE: feeds.threatfox.schedule
  FEED_THREATFOX_CSV_ENABLED: toLower(string(feeds['threatfox-csv'].enabled))
  FEED_THREATFOX_CSV_SCHEDULE: feeds['threatfox-csv'].schedule
  FEED_URLHAUS_ENABLED: toLower(string(feeds.urlhaus.enabled))
  FEED_URLHAUS_SCHEDULE: feeds.urlhaus.schedule
  FEED_URLHAUS_API_ENABLED: toLower(string(feeds['urlhaus-api'].enabled))
  FEED_URLHAUS_API_SCHEDULE: feeds['urlhaus-api'].schedule
  FEED_FEODOTRACKER_ENABLED: toLower(string(feeds.feodotracker.enabled))
  FEED_FEODOTRACKER_SCHEDULE: feeds.feodotracker.schedule
  FEED_MALWAREBAZAAR_ENABLED: toLower(string(feeds.malwarebazaar.enabled))
  FEED_MALWAREBAZAAR_SCHEDULE: feeds.malwarebazaar.schedule
  FEED_SSLBL_ENABLED: toLower(string(feeds.sslbl.enabled))
  FEED_SSLBL_SCHEDULE: feeds.sslbl.schedule
  FEED_OPENPHISH_ENABLED: toLower(string(feeds.openphish.enabled))
  FEED_OPENPHISH_SCHEDULE: feeds.openphish.schedule
  FEED_SPAMHAUS_DROP_ENABLED: toLower(string(feeds['spamhaus-drop'].enabled))
  FEED_SPAMHAUS_DROP_SCHEDULE: feeds['spamhaus-drop'].schedule
  FEED_USERLISTS_SCHEDULE: userListsSchedule
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'f2s-functionapp'
  scope: rg
  params: {
    name: 'func-${environmentName}-${token}'
    planName: 'plan-${environmentName}-${token}'
    location: location
    tags: allTags
    azdServiceName: 'app'
    hostingPlan: hostingPlan
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    premiumMaximumInstanceCount: premiumMaximumInstanceCount
    premiumSku: premiumSku
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultName: keyVault.outputs.name
    abuseChSecretName: abuseChSecretName
    abuseChSecretConfigured: abuseChSecretConfigured
    appSettings: union(appSettings, extraAppSettings)
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    subnetId: privateNetworking ? network.outputs.appSubnetId : ''
    enableAppServiceAuth: enableAppServiceAuth
    authClientId: authClientId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'f2s-alerts'
  scope: rg
  params: {
    location: location
    tags: allTags
    namePrefix: 'f2s-${environmentName}'
    actionGroupId: actionGroupId
    serviceBusName: serviceBus.outputs.name
    queueName: serviceBus.outputs.queueName
    parkedQueueName: serviceBus.outputs.parkedQueueName
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

// Outputs (azd stores them in the environment): names only, nothing secret.

@description('Region of the deployment.')
output AZURE_LOCATION string = location

@description('Resource group holding everything.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Function app name (az functionapp … -n).')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Function app host name.')
output AZURE_FUNCTION_APP_HOST string = functionApp.outputs.defaultHostName

@description('Service Bus namespace host.')
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace

@description('Upload queue name.')
output SERVICEBUS_QUEUE string = serviceBus.outputs.queueName

@description('Parked queue name.')
output SERVICEBUS_PARKED_QUEUE string = serviceBus.outputs.parkedQueueName

@description('Client ID of the app identity.')
output AZURE_CLIENT_ID string = identity.outputs.clientId

@description('Object ID of the app identity (for granting further roles).')
output AZURE_PRINCIPAL_ID string = identity.outputs.principalId

@description('Sentinel workspace ID (GUID) the app uploads to.')
output SENTINEL_WORKSPACE_ID string = empty(sentinelWorkspaceId) ? sentinel.outputs.customerId : sentinelWorkspaceId
