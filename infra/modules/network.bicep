// network.bicep: the optional private-networking mode (main.bicep
// privateNetworking=true). A virtual network with two subnets: "app" for the
// function app's virtual network integration (delegated to
// Microsoft.App/environments on Flex Consumption, Microsoft.Web/serverFarms
// on Elastic Premium) and "private-endpoints"; private endpoints for the
// host storage (blob, table), Service Bus and Key Vault, each registered in
// its privatelink DNS zone linked to the network. The services themselves
// refuse public network access in this mode (their modules). Costs are in
// infra/README.md (Service Bus must be Premium for a private endpoint).
// NOT CONFIRMED: Flex one deploy to a deployment container behind a private
// endpoint, and Key Vault references resolved through the network.

@description('Virtual network name.')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('FlexConsumption or ElasticPremium: decides the app subnet delegation.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string

@description('Address space of the virtual network.')
param addressPrefix string

@description('Prefix of the app integration subnet (Flex Consumption: at least /27; one address per instance).')
param appSubnetPrefix string

@description('Prefix of the private endpoint subnet.')
param privateEndpointSubnetPrefix string

@description('Resource ID of the host storage account.')
param storageAccountId string

@description('Resource ID of the Service Bus namespace (Premium).')
param serviceBusId string

@description('Resource ID of the Key Vault.')
param keyVaultId string

var appDelegation = hostingPlan == 'FlexConsumption' ? 'Microsoft.App/environments' : 'Microsoft.Web/serverFarms'

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'app'
              properties: {
                serviceName: appDelegation
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

// One private endpoint per service (and storage sub-service), with the
// privatelink zone its host name resolves through. Service Bus and Key
// Vault zone names are those of the public cloud.
var endpoints = [
  {
    name: 'blob'
    target: storageAccountId
    groupId: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'table'
    target: storageAccountId
    groupId: 'table'
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
  {
    name: 'servicebus'
    target: serviceBusId
    groupId: 'namespace'
    zone: 'privatelink.servicebus.windows.net'
  }
  {
    name: 'vault'
    target: keyVaultId
    groupId: 'vault'
    zone: 'privatelink.vaultcore.azure.net'
  }
]

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for e in endpoints: {
  name: e.zone
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (e, i) in endpoints: {
  parent: zones[i]
  name: name
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: {
      id: vnet.id
    }
    registrationEnabled: false
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [for e in endpoints: {
  name: 'pe-${e.name}-${name}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: '${vnet.id}/subnets/private-endpoints'
    }
    privateLinkServiceConnections: [
      {
        name: e.name
        properties: {
          privateLinkServiceId: e.target
          groupIds: [
            e.groupId
          ]
        }
      }
    ]
  }
}]

resource dnsGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [for (e, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: e.name
        properties: {
          privateDnsZoneId: zones[i].id
        }
      }
    ]
  }
}]

@description('Resource ID of the app integration subnet.')
output appSubnetId string = '${vnet.id}/subnets/app'

@description('Resource ID of the virtual network.')
output id string = vnet.id
