/**
 * A small DatabaseCluster CRD for the stand-in's own tests, written here because the generated
 * `crds/` belong to another part of issue 7. Names come from contract.ts.
 */
import { DATABASE_CLUSTER, GROUP, VERSION } from '../../../src/k8s/contract.js';

export function testCustomResourceDefinition(): string {
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${DATABASE_CLUSTER.plural}.${GROUP}
spec:
  group: ${GROUP}
  scope: Namespaced
  names:
    plural: ${DATABASE_CLUSTER.plural}
    singular: ${DATABASE_CLUSTER.singular}
    kind: ${DATABASE_CLUSTER.kind}
    listKind: ${DATABASE_CLUSTER.listKind}
    shortNames: [${DATABASE_CLUSTER.shortNames.join(', ')}]
  versions:
    - name: ${VERSION}
      served: true
      storage: true
      subresources: { status: {} }
      additionalPrinterColumns:
        - { name: Replicas, type: integer, jsonPath: .spec.replicas }
        - { name: Version, type: string, jsonPath: .spec.version }
        - { name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status' }
        - { name: Age, type: date, jsonPath: .metadata.creationTimestamp }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [replicas]
              properties:
                replicas: { type: integer, minimum: 0, maximum: 15 }
                version: { type: string, pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$' }
                mode: { type: string, enum: [fast, safe] }
                size: { x-kubernetes-int-or-string: true }
                zones: { type: array, minItems: 1, maxItems: 3, items: { type: string } }
                cacheSize:
                  x-kubernetes-int-or-string: true
                  anyOf: [{ type: integer }, { type: string }]
                  minimum: 4096
                  multipleOf: 4096
                  pattern: '^[0-9]+(KiB|MiB)?$'
                members:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [name]
                  items:
                    type: object
                    required: [name]
                    properties:
                      name: { type: string }
                      tier: { type: integer, default: 1 }
                objectStore:
                  x-kubernetes-preserve-unknown-fields: true
                  anyOf:
                    - enum: [embedded, none]
                    - { minLength: 1, maxLength: 0, minItems: 1, maxItems: 0, required: [bucket] }
            status:
              type: object
              properties:
                phase: { type: string }
                observedGeneration: { type: integer }
                conditions:
                  type: array
                  items:
                    type: object
                    required: [type, status]
                    properties:
                      type: { type: string }
                      status: { type: string, enum: ['True', 'False', 'Unknown'] }
                      reason: { type: string }
                      message: { type: string }
`;
}
