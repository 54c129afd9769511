// functionapp.bicep: the hosting plan and the Linux function app running the
// Go custom handler, on Flex Consumption (FC1, runtime custom 1.0) or, where
// Flex is not available, Elastic Premium. Every connection is identity-based
// through the one user-assigned identity; the only secret (the abuse.ch
// Auth-Key) is a Key Vault reference. Basic publishing credentials (SCM and
// FTP) are disabled, the SCM site needs TLS 1.2, logs go to the app's Log
// Analytics workspace; optionally the app is integrated with a virtual
// network (private networking) and fronted by App Service authentication
// with Entra ID.

@description('Function app name (globally unique host name).')
param name string

@description('Hosting plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('azd service name in azure.yaml; the app is tagged with it so `azd deploy` finds it.')
param azdServiceName string = 'app'

@description('FlexConsumption (FC1) or ElasticPremium (EP1-EP3, where Flex is not offered).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('Flex Consumption instance memory (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption maximum instance count: Flex refuses fewer than 40 (at most 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Elastic Premium maximum burst (elastic worker count and scale limit), 1-100.')
@minValue(1)
@maxValue(100)
param premiumMaximumInstanceCount int = 40

@description('Elastic Premium SKU (only with hostingPlan ElasticPremium).')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

@description('Resource ID of the user-assigned identity.')
param identityId string

@description('Client ID of the user-assigned identity.')
param identityClientId string

@description('Host storage account name (AzureWebJobsStorage__accountName).')
param storageAccountName string

@description('Blob container of the deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param appInsightsName string

@description('Service Bus namespace host name.')
param serviceBusNamespace string

@description('Key Vault name.')
param keyVaultName string

@description('Name of the Key Vault secret holding the abuse.ch Auth-Key.')
param abuseChSecretName string

@description('Whether the Auth-Key secret exists; if not, ABUSECH_AUTH_KEY is empty and abuse.ch sources that need it are skipped.')
param abuseChSecretConfigured bool

@description('App settings the code reads (names as in internal/config), built in main.bicep.')
param appSettings object

@description('Resource ID of the Log Analytics workspace receiving the function app logs.')
param logAnalyticsId string

@description('Subnet of the virtual network integration (private networking); empty = none.')
param subnetId string = ''

@description('Turn on App Service authentication with Entra ID: every HTTP call needs a token for authClientId, and the app trusts X-MS-CLIENT-PRINCIPAL-NAME (TRUST_CLIENT_PRINCIPAL_HEADER, set in main.bicep).')
param enableAppServiceAuth bool = false

@description('Client (application) ID of the Entra app registration that callers get tokens for (enableAppServiceAuth only).')
param authClientId string = ''

var isFlex = hostingPlan == 'FlexConsumption'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var flexSku = {
  name: 'FC1'
  tier: 'FlexConsumption'
}

var premiumPlanSku = {
  name: premiumSku
  tier: 'ElasticPremium'
}

var flexPlanProperties = {
  reserved: true // Linux
}

var premiumPlanProperties = {
  reserved: true // Linux
  maximumElasticWorkerCount: premiumMaximumInstanceCount
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? flexSku : premiumPlanSku
  properties: isFlex ? flexPlanProperties : premiumPlanProperties
}

// Identity-based connections. The host reads AzureWebJobsStorage__* and the
// Service Bus trigger ServiceBusConnection__* (function.json "connection":
// "ServiceBusConnection"); the Go code reads AZURE_CLIENT_ID (azidentity),
// ServiceBusConnection__fullyQualifiedNamespace and
// AzureWebJobsStorage__accountName (its table service is the state store).
var identitySettings = {
  AZURE_CLIENT_ID: identityClientId
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  // The connection string names the component and ingestion endpoint; it
  // authorizes nothing because local auth is disabled on the component:
  // telemetry is sent with the identity's Entra token.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // A Key Vault reference, resolved by the platform with
  // keyVaultReferenceIdentity; the versionless form follows rotations.
  // Key Vault references on Flex Consumption with a user-assigned identity:
  // NOT CONFIRMED in the reference material (documented for App Service and
  // Functions generally). If it does not resolve, the app sees the literal
  // reference; the status endpoint and the abuse.ch 401s show it.
  ABUSECH_AUTH_KEY: abuseChSecretConfigured ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${abuseChSecretName})' : ''
}

// Flex Consumption: no FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION
// (the runtime is functionAppConfig.runtime; Flex rejects or ignores them).
var flexSettings = {}

// Elastic Premium: the classic runtime settings, and run-from-package from
// the deployment container read with the identity (no Azure Files content
// share, which would need a shared-key connection string). Running a Linux
// Premium app without WEBSITE_CONTENTAZUREFILECONNECTIONSTRING this way is
// NOT CONFIRMED; deploy by uploading dist/app.zip as
// <container>/app.zip and restarting (infra/README.md).
var premiumSettings = {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  WEBSITE_RUN_FROM_PACKAGE: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}/app.zip'
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
}

var flexConfig = {
  functionAppConfig: {
    deployment: {
      storage: {
        type: 'blobContainer'
        value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
        authentication: {
          type: 'UserAssignedIdentity'
          userAssignedIdentityResourceId: identityId
        }
      }
    }
    scaleAndConcurrency: {
      instanceMemoryMB: instanceMemoryMB
      maximumInstanceCount: maximumInstanceCount
    }
    // runtime 'custom' on Flex: accepted per the 2025 stacks data and the
    // Go/Flex sample; availability in every region is NOT CONFIRMED
    // (check `az functionapp list-flexconsumption-runtimes -l <region>`).
    runtime: {
      name: 'custom'
      version: '1.0'
    }
  }
  // No ftpsState: FTP is not offered on Flex Consumption, where the
  // setting is a documented deprecation (basic publishing credentials are
  // disabled below on both plans).
  siteConfig: {
    minTlsVersion: '1.2'
    scmMinTlsVersion: '1.2'
    http20Enabled: false
  }
}

var premiumConfig = {
  siteConfig: {
    linuxFxVersion: '' // custom handler: no language stack image
    minTlsVersion: '1.2'
    scmMinTlsVersion: '1.2'
    ftpsState: 'Disabled'
    http20Enabled: false
    minimumElasticInstanceCount: 1
    functionAppScaleLimit: premiumMaximumInstanceCount
    // Private networking: all outbound traffic (Key Vault references, the
    // run-from-package blob) goes through the virtual network.
    vnetRouteAllEnabled: !empty(subnetId)
  }
}

var siteBase = {
  serverFarmId: plan.id
  httpsOnly: true
  // Key Vault references resolve with the user-assigned identity (the
  // default would be a system-assigned identity, which the app has none of).
  keyVaultReferenceIdentity: identityId
  // Virtual network integration (private networking): the subnet is
  // delegated to Microsoft.App/environments on Flex Consumption and
  // Microsoft.Web/serverFarms on Elastic Premium (modules/network.bicep).
  virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
}

var siteTags = union(tags, {
  'azd-service-name': azdServiceName
})

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: siteTags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: union(siteBase, isFlex ? flexConfig : premiumConfig)
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, identitySettings, isFlex ? flexSettings : premiumSettings)
}

// Basic (user name and password) publishing credentials off for the SCM
// (Kudu) site and FTP: deployments authenticate with Entra ID. That Flex
// Consumption, which offers no FTP, accepts the ftp policy is NOT CONFIRMED.
resource publishingCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = [for policy in [
  'scm'
  'ftp'
]: {
  parent: site
  name: policy
  properties: {
    allow: false
  }
}]

// App Service authentication (Easy Auth) with Entra ID, when asked: the
// platform validates the caller's token, refuses calls without one (401),
// and sets X-MS-CLIENT-PRINCIPAL-NAME after removing any copy the client
// sent, which is why only then the app trusts that header. authsettingsV2
// on Flex Consumption: NOT CONFIRMED in the reference material.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (enableAppServiceAuth) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
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

@description('Name of the function app.')
output name string = site.name

@description('Resource ID of the function app.')
output id string = site.id

@description('Default host name of the function app.')
output defaultHostName string = site.properties.defaultHostName
