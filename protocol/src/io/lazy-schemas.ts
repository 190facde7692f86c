/**
 * Fastify's schema compilers, compiling each route's schema on first use instead of at startup.
 *
 * Fastify compiles every route's request schemas (ajv) and response schemas (fast-json-stringify)
 * as the routes are registered. A storage node's admin API spends about 190 ms of CPU on that at
 * every start (measured with `--cpu-prof`: ajv 149 ms, fast-json-stringify 38 ms, of about 700 ms
 * from spawn to ready), and most of its routes are never called in a process's life. Six nodes,
 * two engines and `northlight up` start together on two cores, and a restarted member serves that
 * much later, so start time is availability.
 *
 * `lazySchemaController()` is fastify's `schemaController` option with the same two compilers
 * fastify uses by default (`@fastify/ajv-compiler`, `@fastify/fast-json-stringify-compiler`, at the
 * versions fastify itself depends on), given the same external schemas and options, each built on
 * the first request that needs it. Validation and serialization are therefore unchanged: the first
 * request on a route pays its compile (a few ms), and a schema that does not compile fails that
 * request (500) instead of the start. The compilers' modules themselves load on first use too. At run
 * time ajv does not check a schema against the JSON Schema meta-schema (`validateSchema: false`:
 * compiling the meta-schema is another 100 ms); each app's tests do, with `compileAllStrictly`.
 *
 * One difference with the default, which applies to none of our routes: fastify hands a custom
 * compiler `headers` schemas as written, without lowercasing their keys. No route here validates
 * headers (the storage admin API's and the engine's HTTP API's tests check that their routes still
 * validate as before).
 */

import { createRequire } from 'node:module';
import type { ValidatorFactory } from '@fastify/ajv-compiler';
import type { SerializerFactory } from '@fastify/fast-json-stringify-compiler';

const require = createRequire(import.meta.url);

type Validate = ((data: unknown) => unknown) & { errors?: unknown };
type Serialize = (document: unknown) => string;

type ValidatorDefinition = Parameters<ReturnType<ValidatorFactory>>[0];
type SerializerDefinition = Parameters<ReturnType<SerializerFactory>>[0];

/** Fastify's `schemaController` option (`Fastify({ schemaController: lazySchemaController() })`). */
export interface LazySchemaController {
  readonly compilersFactory: {
    readonly buildValidator: ValidatorFactory;
    readonly buildSerializer: SerializerFactory;
  };
  /** How many schemas were compiled so far: a route never called compiles nothing. */
  readonly compiled: { readonly validators: number; readonly serializers: number };
  /**
   * For tests: compiles every schema the app's routes registered, as fastify's default would at
   * startup, ajv checking each against the meta-schema; throws the first failure, naming its route.
   */
  compileAllStrictly(): void;
}

export function lazySchemaController(): LazySchemaController {
  const compiled = { validators: 0, serializers: 0 };
  const registered: {
    readonly validators: {
      readonly externals: unknown;
      readonly options: unknown;
      readonly definition: ValidatorDefinition;
    }[];
    readonly serializers: {
      readonly externals: unknown;
      readonly options: unknown;
      readonly definition: SerializerDefinition;
    }[];
  } = { validators: [], serializers: [] };
  // One pool per app, as fastify's default (`buildSchemaController` makes one per root instance).
  let validatorPool: ValidatorFactory | undefined;
  let serializerPool: SerializerFactory | undefined;
  const buildValidator = ((externalSchemas, options) => {
    let compile: ReturnType<ValidatorFactory> | undefined;
    const compiler = () => {
      validatorPool ??= (require('@fastify/ajv-compiler') as () => ValidatorFactory)();
      // Our schemas are constants, checked against the meta-schema by each app's tests
      // (`compileAllStrictly`); at run time, ajv's own check of each against the draft-07
      // meta-schema would compile the meta-schema first: about 100 ms of a process's start.
      compile ??= validatorPool(externalSchemas, {
        ...options,
        customOptions: { validateSchema: false, ...options?.customOptions },
      } as Parameters<ValidatorFactory>[1]);
      return compile;
    };
    return (definition) => {
      registered.validators.push({ externals: externalSchemas, options, definition });
      return lazyValidator(() => {
        compiled.validators++;
        return compiler()(definition) as Validate;
      });
    };
  }) as ValidatorFactory;
  const buildSerializer = ((externalSchemas, options) => {
    let compile: ReturnType<SerializerFactory> | undefined;
    const compiler = () => {
      serializerPool ??= (require('@fastify/fast-json-stringify-compiler') as () => SerializerFactory)();
      compile ??= serializerPool(externalSchemas, options);
      return compile;
    };
    return (definition) => {
      registered.serializers.push({ externals: externalSchemas, options, definition });
      let serialize: Serialize | undefined;
      return (document: unknown) => {
        if (serialize === undefined) {
          compiled.serializers++;
          serialize = compiler()(definition);
        }
        return serialize(document);
      };
    };
  }) as SerializerFactory;
  return {
    compilersFactory: { buildValidator, buildSerializer },
    compiled,
    compileAllStrictly() {
      const validators = (require('@fastify/ajv-compiler') as () => ValidatorFactory)();
      const serializers = (require('@fastify/fast-json-stringify-compiler') as () => SerializerFactory)();
      for (const { externals, options, definition } of registered.validators)
        try {
          validators(externals as never, options as never)(definition);
        } catch (error) {
          throw new Error(`${routeOf(definition)} ${definition.httpPart}: ${(error as Error).message}`);
        }
      for (const { externals, options, definition } of registered.serializers)
        try {
          serializers(externals, options as never)(definition);
        } catch (error) {
          throw new Error(
            `${routeOf(definition)} response ${definition.httpStatus}: ${(error as Error).message}`,
          );
        }
    },
  };
}

function routeOf(definition: { readonly method?: string; readonly url?: string }): string {
  return `${definition.method ?? '?'} ${definition.url ?? '?'}`;
}

/**
 * A validator that compiles on its first call. Fastify reads `errors` off the function it was given
 * after a call that returned false, as ajv leaves them on the compiled function: copied after each call.
 */
function lazyValidator(build: () => Validate): Validate {
  let validate: Validate | undefined;
  const lazy: Validate = (data: unknown) => {
    validate ??= build();
    const result = validate(data);
    lazy.errors = validate.errors;
    return result;
  };
  return lazy;
}
