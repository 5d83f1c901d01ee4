import type { TSchema, Static } from '@sinclair/typebox';
import type { DependencyContainer } from 'tsyringe';

/** The seven kinds of strategy a run is composed of (DESIGN.md, "Strategy kinds"). */
export const STRATEGY_KINDS = [
  'task',
  'policy',
  'reward-function',
  'trajectory-source',
  'advantage-estimator',
  'token-weighter',
  'policy-objective',
] as const;
export type StrategyKind = (typeof STRATEGY_KINDS)[number];

/**
 * What a strategy needs from the model forward or the batch. The run refuses, before training, a strategy whose
 * requirement no provider in the run supplies (see `checkRequirements`).
 */
export const REQUIREMENTS = [
  'logprobs',
  'behaviourLogprobs',
  'referenceLogprobs',
  'entropy',
  'hiddenStates',
  'imageHiddenStates',
  'imagelessLogprobs',
  'patchFeatures',
  'expertLogprobs',
  'rectifiedTrajectories',
] as const;
export type Requirement = (typeof REQUIREMENTS)[number];

export interface StrategyDocs {
  /** One sentence: what the strategy does. */
  summary: string;
  /** Paper (title, arXiv id) the method comes from. */
  paper?: string;
  /** Equation numbers implemented, e.g. "TGRL Eq. 3, 16". */
  equations?: string;
}

/** Context handed to a strategy factory. */
export interface StrategyContext {
  /** The per-run child container: resolve other strategies (e.g. the task) through tokens. */
  container: DependencyContainer;
  /** Global seed of the run. */
  seed: number;
  /** Directory the config file was loaded from (relative paths in options resolve against it). */
  baseDir: string;
}

export interface StrategyDefinition<S extends TSchema = TSchema, T = unknown> {
  kind: StrategyKind;
  /** kebab-case, unique per kind; third-party ids are `namespace/name` (the registry prefixes them). */
  name: string;
  /** TypeBox schema of the options; `additionalProperties: false`, defaults on every optional knob. */
  optionsSchema: S;
  docs: StrategyDocs;
  /** Inputs this strategy needs; checked at start-up against what the run provides. */
  requires?: readonly Requirement[];
  /** Inputs this strategy makes available to others (e.g. the `vlm` policy provides `logprobs`, `entropy`, …). */
  provides?: readonly Requirement[];
  /** Builds the strategy for one run. May be async (datasets, weights are loaded here). */
  create(options: Static<S>, ctx: StrategyContext): T | Promise<T>;
}

export interface PluginMeta {
  /** npm package name. */
  name: string;
  version: string;
  /** Prefix of the plugin's strategy ids (`namespace/name`); the built-ins use the empty namespace. */
  namespace: string;
  /** Semver range of the plugin API this plugin was written against, e.g. "^1.0.0". */
  apiVersion: string;
}

export interface MmrlPlugin {
  meta: PluginMeta;
  strategies: readonly StrategyDefinition<any, any>[];
}

/** A registered strategy: its definition plus the id it is known by and the plugin that owns it. */
export interface RegisteredStrategy {
  id: string;
  owner: PluginMeta;
  definition: StrategyDefinition<any, any>;
}
