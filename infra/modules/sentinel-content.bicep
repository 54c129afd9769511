// sentinel-content.bicep: deployed at the resource group of the existing
// Sentinel (Log Analytics) workspace, like sentinel-access.bicep. It ships
// the workspace content of issue 14, each part behind its own switch:
//   - analytic rules (Microsoft.SecurityInsights/alertRules, kind
//     Scheduled) that match our indicators: ../rules/ti-*.kql, each behind
//     ../rules/ti-prelude.kql, which selects the active, non-revoked
//     indicators of our SourceSystem in ThreatIntelIndicators;
//   - health rules over the run-records table F2SRuns_CL:
//     ../rules/health-*.kql;
//   - the workbook ../workbooks/feeds2sentinel.json (category sentinel,
//     linked to the workspace).
// Every query is loaded from its file, so infra/kql_test.go checks the exact
// text deployed. Deploying rules and workbooks needs Microsoft Sentinel
// Contributor on the workspace for whoever deploys, so main.bicep leaves
// all of it off by default. The app identity needs nothing more.

@description('Name of the existing Sentinel workspace.')
param workspaceName string

@description('SENTINEL_SOURCE_SYSTEM of the deployment: the rules match only indicators of this source system.')
param sourceSystem string

@description('Deploy the analytic rules over the ASIM parsers (IP, CIDR, domain, URL, file hashes).')
param deployDetectionRules bool = false

@description('Deploy the email-address rule (needs the Defender XDR EmailEvents table).')
param deployEmailRule bool = false

@description('Deploy the certificate SHA-1 rule (needs the Corelight connector table Corelight_v2_files_CL).')
param deployCertificateRule bool = false

@description('Deploy the health rules (need the run-records table F2SRuns_CL).')
param deployHealthRules bool = false

@description('Health: a feed alerts after this many of its intervals without a successful run.')
@minValue(1)
param healthMissedIntervals int = 3

@description('Deploy the feeds2sentinel workbook.')
param deployWorkbook bool = false

@description('Region of the workbook (any region; its queries run against the workspace).')
param location string

@description('Tags of the workbook.')
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

// Declarations every query starts with: the source system as a KQL string
// (JSON-encoded, so any character is safe) and the health threshold.
var header = 'let F2SSourceSystem = tostring(dynamic(${string([sourceSystem])})[0]);\nlet F2SMissedIntervals = ${healthMissedIntervals};\n'
var tiPrelude = '${header}${loadTextContent('../rules/ti-prelude.kql')}'

var ipEntity = [
  {
    entityType: 'IP'
    fieldMappings: [
      {
        identifier: 'Address'
        columnName: 'MatchedIp'
      }
    ]
  }
]

// What every indicator alert carries, so that it says which indicator and
// which feed produced it (SecurityAlert.ExtendedProperties "Custom Details").
var tiDetails = {
  IndicatorId: 'IndicatorId'
  IndicatorType: 'IndicatorType'
  IndicatorValue: 'IndicatorValue'
  IndicatorSources: 'IndicatorSources'
  IndicatorConfidence: 'IndicatorConfidence'
  IndicatorExpiry: 'IndicatorValidUntil'
}
var tiOverride = {
  alertDisplayNameFormat: 'feeds2sentinel: {{IndicatorType}} {{IndicatorValue}} from {{IndicatorSources}}'
  alertDescriptionFormat: 'Log data matched the {{IndicatorType}} indicator {{IndicatorValue}} reported by {{IndicatorSources}}; the custom details give its id, confidence and expiry.'
}

var rules = [
  {
    key: 'ti-ip'
    deploy: deployDetectionRules
    title: 'IP indicator in a network session'
    severity: 'Medium'
    period: 'P14D'
    tactics: [
      'CommandAndControl'
    ]
    query: '${tiPrelude}${loadTextContent('../rules/ti-ip.kql')}'
    entities: ipEntity
    details: tiDetails
  }
  {
    key: 'ti-cidr'
    deploy: deployDetectionRules
    title: 'address in an indicator\'s CIDR range'
    severity: 'Medium'
    period: 'P14D'
    tactics: [
      'CommandAndControl'
    ]
    query: '${tiPrelude}${loadTextContent('../rules/ti-cidr.kql')}'
    entities: ipEntity
    details: tiDetails
  }
  {
    key: 'ti-domain'
    deploy: deployDetectionRules
    title: 'domain indicator in a DNS query'
    severity: 'Medium'
    period: 'P14D'
    tactics: [
      'CommandAndControl'
    ]
    query: '${tiPrelude}${loadTextContent('../rules/ti-domain.kql')}'
    entities: [
      {
        entityType: 'DNS'
        fieldMappings: [
          {
            identifier: 'DomainName'
            columnName: 'DnsQuery'
          }
        ]
      }
      {
        entityType: 'IP'
        fieldMappings: [
          {
            identifier: 'Address'
            columnName: 'SrcIpAddr'
          }
        ]
      }
    ]
    details: tiDetails
  }
  {
    key: 'ti-url'
    deploy: deployDetectionRules
    title: 'URL indicator in a web session'
    severity: 'Medium'
    period: 'P14D'
    tactics: [
      'InitialAccess'
      'CommandAndControl'
    ]
    query: '${tiPrelude}${loadTextContent('../rules/ti-url.kql')}'
    entities: [
      {
        entityType: 'URL'
        fieldMappings: [
          {
            identifier: 'Url'
            columnName: 'Url'
          }
        ]
      }
      {
        entityType: 'IP'
        fieldMappings: [
          {
            identifier: 'Address'
            columnName: 'SrcIpAddr'
          }
        ]
      }
    ]
    details: tiDetails
  }
  {
    key: 'ti-filehash'
    deploy: deployDetectionRules
    title: 'file hash indicator in a file event'
    severity: 'High'
    period: 'P14D'
    tactics: [
      'Execution'
    ]
    query: '${tiPrelude}${loadTextContent('../rules/ti-filehash.kql')}'
    entities: [
      {
        entityType: 'FileHash'
        fieldMappings: [
          {
            identifier: 'Algorithm'
            columnName: 'HashAlgorithm'
          }
          {
            identifier: 'Value'
            columnName: 'HashKey'
          }
        ]
      }
      {
        entityType: 'Host'
        fieldMappings: [
          {
            identifier: 'HostName'
            columnName: 'DvcHostname'
          }
        ]
      }
    ]
    details: tiDetails
  }
  {
    key: 'ti-email'
    deploy: deployEmailRule
    title: 'email address indicator in mail flow'
    severity: 'Medium'
    period: 'P14D'
    tactics: [
      'InitialAccess'
    ]
    query: '${tiPrelude}${loadTextContent('../rules/ti-email.kql')}'
    entities: [
      {
        entityType: 'Mailbox'
        fieldMappings: [
          {
            identifier: 'MailboxPrimaryAddress'
            columnName: 'MatchedAddress'
          }
        ]
      }
    ]
    details: tiDetails
  }
  {
    key: 'ti-x509-corelight'
    deploy: deployCertificateRule
    title: 'certificate SHA-1 indicator in a TLS handshake'
    severity: 'High'
    period: 'P14D'
    tactics: [
      'CommandAndControl'
    ]
    query: '${tiPrelude}${loadTextContent('../rules/ti-x509-corelight.kql')}'
    entities: [
      {
        entityType: 'IP'
        fieldMappings: [
          {
            identifier: 'Address'
            columnName: 'ServerIp'
          }
        ]
      }
    ]
    details: tiDetails
  }
  {
    key: 'health-feed-stale'
    deploy: deployHealthRules
    title: 'feed has not succeeded for ${healthMissedIntervals} intervals'
    severity: 'Medium'
    period: 'P2D'
    tactics: []
    query: '${header}${loadTextContent('../rules/health-feed-stale.kql')}'
    entities: []
    details: {
      Feed: 'Feed'
      LastSuccess: 'LastSuccess'
      LastError: 'LastError'
    }
  }
  {
    key: 'health-upload-rejected'
    deploy: deployHealthRules
    title: 'indicators rejected, parked or dead-lettered'
    severity: 'Medium'
    period: 'PT1H'
    tactics: []
    query: '${header}${loadTextContent('../rules/health-upload-rejected.kql')}'
    entities: []
    details: {
      Feed: 'Feed'
      SentinelRejected: 'SentinelRejected'
      Parked: 'Parked'
      DeadLettered: 'DeadLettered'
      LastError: 'LastError'
    }
  }
  {
    key: 'health-reconcile'
    deploy: deployHealthRules
    title: 'uploaded indicators missing from ThreatIntelIndicators'
    severity: 'Medium'
    period: 'PT2H'
    tactics: []
    query: '${header}${loadTextContent('../rules/health-reconcile.kql')}'
    entities: []
    details: {
      Uploaded: 'Uploaded'
      Appeared: 'Appeared'
      Missing: 'Missing'
    }
  }
]

resource alertRules 'Microsoft.SecurityInsights/alertRules@2023-02-01' = [for r in rules: if (r.deploy) {
  name: guid(workspace.id, 'feeds2sentinel', sourceSystem, r.key)
  scope: workspace
  kind: 'Scheduled'
  properties: {
    displayName: 'feeds2sentinel: ${r.title}'
    description: 'Shipped by feeds2sentinel (infra/rules/${r.key}.kql) for source system ${sourceSystem}.'
    enabled: true
    query: r.query
    queryFrequency: 'PT1H'
    queryPeriod: r.period
    severity: r.severity
    triggerOperator: 'GreaterThan'
    triggerThreshold: 0
    suppressionDuration: 'PT1H'
    suppressionEnabled: false
    tactics: r.tactics
    entityMappings: empty(r.entities) ? null : r.entities
    customDetails: r.details
    alertDetailsOverride: startsWith(r.key, 'ti-') ? tiOverride : null
    eventGroupingSettings: {
      aggregationKind: 'AlertPerResult'
    }
    incidentConfiguration: {
      createIncident: true
      groupingConfiguration: {
        enabled: false
        reopenClosedIncident: false
        lookbackDuration: 'PT5H'
        matchingMethod: 'AllEntities'
      }
    }
  }
}]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = if (deployWorkbook) {
  name: guid(workspace.id, 'feeds2sentinel-workbook', sourceSystem)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'feeds2sentinel (${sourceSystem})'
    category: 'sentinel'
    sourceId: workspace.id
    serializedData: loadTextContent('../workbooks/feeds2sentinel.json')
    version: '1.0'
  }
}

