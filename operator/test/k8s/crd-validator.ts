/**
 * Test support: a CRD's OpenAPI schema checked the way an API server checks a custom resource, with
 * ajv: strict field validation (what `kubectl apply` asks for by default: unknown fields are errors),
 * null fields pruned, `x-kubernetes-list-type: map` keys unique, OpenAPI v3.0's boolean
 * exclusiveMinimum. Used by crd-schema.test.ts and chart.test.ts.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { JsonSchemaProps } from '../../src/k8s/crd-schema.js';

/** The JSON schema ajv checks; `atRoot` keeps ObjectMeta open, since the API server owns it. */
export function toAjvSchema(node: JsonSchemaProps, path = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'description') continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchemaProps>).map(([name, child]) => [
          name,
          toAjvSchema(child, `${path}.${name}`),
        ]),
      );
    } else if (key === 'items' || key === 'additionalProperties' || key === 'not') {
      out[key] = toAjvSchema(value as JsonSchemaProps, `${path}[]`);
    } else if (key === 'anyOf') {
      out.anyOf = (value as JsonSchemaProps[]).map((branch) => toAjvSchema(branch, path));
    } else out[key] = value;
  }
  // OpenAPI v3.0: exclusiveMinimum is a flag on minimum; JSON schema draft 7 makes it the bound.
  if (node.exclusiveMinimum === true) {
    out.exclusiveMinimum = node.minimum;
    delete out.minimum;
  }
  // Strict field validation: an object that neither keeps unknown fields nor maps names to values
  // refuses unknown fields; metadata is ObjectMeta, which the API server checks itself.
  const keepsUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (
    node.type === 'object' &&
    !keepsUnknown &&
    node.additionalProperties === undefined &&
    path !== '.metadata'
  ) {
    out.additionalProperties = false;
  }
  if (node['x-kubernetes-list-type'] === 'map') out.uniqueByKeys = node['x-kubernetes-list-map-keys'];
  return out;
}

export function makeValidator(schema: JsonSchemaProps): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  ajv.addFormat('int32', { type: 'number', validate: (value: number) => Math.abs(value) < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (value: number) => Number.isSafeInteger(value) });
  ajv.addFormat('date-time', (value: string) => !Number.isNaN(Date.parse(value)));
  ajv.addKeyword({
    keyword: 'uniqueByKeys',
    type: 'array',
    schemaType: 'array',
    validate: (keys: string[], items: Array<Record<string, unknown>>) => {
      const seen = new Set(items.map((item) => JSON.stringify(keys.map((key) => item?.[key]))));
      return seen.size === items.length;
    },
  });
  return ajv.compile(toAjvSchema(schema));
}

/** The API server drops null fields that are not nullable (none of ours is) before validating. */
export function pruneNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pruneNulls);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, field]) => field !== null)
      .map(([key, field]) => [key, pruneNulls(field)]),
  );
}

export function schemaAccepts(validate: ValidateFunction, document: unknown): boolean {
  return validate(pruneNulls(document)) === true;
}

export function schemaErrors(validate: ValidateFunction, document: unknown): string {
  validate(pruneNulls(document));
  return (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`).join('; ');
}
