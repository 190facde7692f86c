/**
 * Validation and pruning of custom resources against a CRD's structural `openAPIV3Schema`, as the
 * apiextensions server does it: unknown fields are pruned (and listed, for `fieldValidation=Strict`
 * and `Warn`), then types, `required`, `enum`, `pattern`, bounds, lengths and item counts are checked,
 * each failure worded like the real server's `field.Error` (`spec.replicas: Invalid value: -1:
 * spec.replicas in body should be greater than or equal to 0`). CEL rules
 * (`x-kubernetes-validations`) and `format` are not evaluated (README.md).
 */
import { isObject, type Json, type JsonObject } from './patches.js';

export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: Json[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  default?: Json;
  multipleOf?: number;
  anyOf?: Schema[];
  allOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

export interface FieldCause {
  reason:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueNotSupported'
    | 'FieldValueTypeInvalid'
    | 'FieldValueDuplicate';
  message: string;
  field: string;
}

export interface ValidationResult {
  /** The object with unknown fields pruned and defaults applied. */
  value: JsonObject;
  causes: FieldCause[];
  /** Dotted paths of the pruned fields ("spec.foo"), in the order found. */
  unknownFields: string[];
}

function render(value: Json): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value);
}

function typeOf(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(schema: Schema, value: Json): boolean {
  if (schema['x-kubernetes-int-or-string'] === true)
    return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
  if (schema.type === undefined) return true;
  const actual = typeOf(value);
  if (schema.type === 'number') return actual === 'number' || actual === 'integer';
  return actual === schema.type;
}

class Walker {
  readonly causes: FieldCause[] = [];
  readonly unknownFields: string[] = [];

  /** A walker for anyOf/allOf/oneOf/not branches: it only validates (no pruning, no defaults). */
  constructor(readonly validateOnly = false) {}

  #branchCauses(schema: Schema, value: Json, path: string): FieldCause[] {
    const branch = new Walker(true);
    branch.walk(schema, value, path);
    return branch.causes;
  }

  /** The logical keywords, which in a structural schema only add constraints (never types or pruning). */
  #logical(schema: Schema, value: Json, path: string): void {
    if (schema.allOf !== undefined)
      for (const branch of schema.allOf) this.causes.push(...this.#branchCauses(branch, value, path));
    if (schema.anyOf !== undefined) {
      const failures = schema.anyOf.map((branch) => this.#branchCauses(branch, value, path));
      if (failures.every((causes) => causes.length > 0)) {
        this.causes.push(...failures[0]!);
        this.invalid(path, value, 'must validate at least one schema (anyOf)');
      }
    }
    if (schema.oneOf !== undefined) {
      const passing = schema.oneOf.filter(
        (branch) => this.#branchCauses(branch, value, path).length === 0,
      ).length;
      if (passing !== 1) this.invalid(path, value, 'must validate one and only one schema (oneOf)');
    }
    if (schema.not !== undefined && this.#branchCauses(schema.not, value, path).length === 0)
      this.invalid(path, value, 'must not validate the schema (not)');
  }

  invalid(path: string, value: Json, detail: string): void {
    this.causes.push({
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${render(value)}: ${path} in body ${detail}`,
      field: path,
    });
  }

  walk(schema: Schema, value: Json, path: string): Json {
    if (value === null) {
      if (schema.nullable === true || schema['x-kubernetes-preserve-unknown-fields'] === true) return null;
      // The real server drops nulls for non-nullable fields during pruning/defaulting.
      return undefined as unknown as Json;
    }
    if (!typeMatches(schema, value)) {
      const expected = schema['x-kubernetes-int-or-string'] === true ? 'integer or string' : schema.type;
      this.causes.push({
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: ${render(typeOf(value))}: ${path} in body must be of type ${expected}: ${render(typeOf(value))}`,
        field: path,
      });
      return value;
    }
    if (
      schema.enum !== undefined &&
      !schema.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))
    )
      this.causes.push({
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${render(value)}: supported values: ${schema.enum.map(render).join(', ')}`,
        field: path,
      });
    this.#logical(schema, value, path);
    if (typeof value === 'string') this.#string(schema, value, path);
    else if (typeof value === 'number') this.#number(schema, value, path);
    else if (Array.isArray(value)) return this.#array(schema, value, path);
    else if (isObject(value)) return this.#object(schema, value, path);
    return value;
  }

  #string(schema: Schema, value: string, path: string): void {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value))
      this.invalid(path, value, `should match '${schema.pattern}'`);
    if (schema.minLength !== undefined && [...value].length < schema.minLength)
      this.invalid(path, value, `should be at least ${schema.minLength} chars long`);
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength)
      this.invalid(path, value, `should be at most ${schema.maxLength} chars long`);
  }

  #number(schema: Schema, value: number, path: string): void {
    if (schema.minimum !== undefined) {
      if (schema.exclusiveMinimum === true ? value <= schema.minimum : value < schema.minimum)
        this.invalid(
          path,
          value,
          `should be greater than ${schema.exclusiveMinimum === true ? '' : 'or equal to '}${schema.minimum}`,
        );
    }
    if (
      schema.multipleOf !== undefined &&
      Math.abs(value / schema.multipleOf - Math.round(value / schema.multipleOf)) > 1e-9
    )
      this.invalid(path, value, `should be a multiple of ${schema.multipleOf}`);
    if (schema.maximum !== undefined) {
      if (schema.exclusiveMaximum === true ? value >= schema.maximum : value > schema.maximum)
        this.invalid(
          path,
          value,
          `should be less than ${schema.exclusiveMaximum === true ? '' : 'or equal to '}${schema.maximum}`,
        );
    }
  }

  #array(schema: Schema, value: Json[], path: string): Json[] {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      this.invalid(path, value.length, `should have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      this.invalid(path, value.length, `should have at most ${schema.maxItems} items`);
    this.#uniqueness(schema, value, path);
    if (schema.items === undefined) return value;
    return value.map((item, index) => this.walk(schema.items!, item, `${path}[${index}]`));
  }

  /** `x-kubernetes-list-type: set` items and `map` keys must be unique (FieldValueDuplicate). */
  #uniqueness(schema: Schema, value: Json[], path: string): void {
    const listType = schema['x-kubernetes-list-type'];
    if (listType !== 'set' && listType !== 'map') return;
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((item, index) => {
      const identity =
        listType === 'map' && isObject(item)
          ? Object.fromEntries(keys.filter((key) => item[key] !== undefined).map((key) => [key, item[key]]))
          : item;
      const text = JSON.stringify(identity);
      if (seen.has(text))
        this.causes.push({
          reason: 'FieldValueDuplicate',
          message: `Duplicate value: ${listType === 'map' ? `map[string]interface {}${text}` : text}`,
          field: `${path}[${index}]`,
        });
      seen.add(text);
    });
  }

  #object(schema: Schema, value: JsonObject, path: string): JsonObject {
    const result: JsonObject = {};
    const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
    const additional = schema.additionalProperties;
    for (const [key, child] of Object.entries(value)) {
      const childPath = path === '' ? key : `${path}.${key}`;
      const childSchema = schema.properties?.[key] ?? (isObject(additional) ? additional : undefined);
      if (childSchema !== undefined) {
        const walked = this.walk(childSchema, child, childPath);
        if (walked !== undefined) result[key] = walked;
      } else if (
        this.validateOnly ||
        preserve ||
        additional === true ||
        (schema.properties === undefined && schema.type !== 'object')
      )
        result[key] = child;
      else this.unknownFields.push(childPath);
    }
    for (const [key, childSchema] of Object.entries(schema.properties ?? {}))
      if (!this.validateOnly && result[key] === undefined && childSchema.default !== undefined)
        result[key] = structuredClone(childSchema.default);
    for (const key of schema.required ?? [])
      if (result[key] === undefined)
        this.causes.push({
          reason: 'FieldValueRequired',
          message: 'Required value',
          field: path === '' ? key : `${path}.${key}`,
        });
    const count = Object.keys(result).length;
    if (schema.minProperties !== undefined && count < schema.minProperties)
      this.invalid(path, count, `should have at least ${schema.minProperties} properties`);
    if (schema.maxProperties !== undefined && count > schema.maxProperties)
      this.invalid(path, count, `should have at most ${schema.maxProperties} properties`);
    return result;
  }
}

/** The root fields every object keeps whatever its schema says. */
const ROOT_FIELDS = ['apiVersion', 'kind', 'metadata'];

export function validateCustomResource(schema: Schema, object: JsonObject): ValidationResult {
  const walker = new Walker();
  const body: JsonObject = {};
  for (const [key, value] of Object.entries(object)) if (!ROOT_FIELDS.includes(key)) body[key] = value;
  const rootSchema: Schema = { ...schema, properties: { ...schema.properties } };
  for (const key of ROOT_FIELDS) delete rootSchema.properties![key];
  rootSchema.required = (schema.required ?? []).filter((key) => !ROOT_FIELDS.includes(key));
  const walked = walker.walk(rootSchema, body, '') as JsonObject;
  const value: JsonObject = {};
  for (const key of ROOT_FIELDS) if (object[key] !== undefined) value[key] = object[key] as Json;
  Object.assign(value, walked);
  return { value, causes: walker.causes, unknownFields: walker.unknownFields };
}
