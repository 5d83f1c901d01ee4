import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Policy } from '../contracts/policy.js';
import { container as rootContainer, type DependencyContainer, type InjectionToken } from 'tsyringe';
import type { StrategyRegistry } from '../plugin/registry.js';
import type { Requirement, StrategyKind, RegisteredStrategy } from '../plugin/types.js';
import type { ResolvedConfig, Slot } from '../config/base-schema.js';
import {
  ADVANTAGE_ESTIMATOR,
  POLICY,
  POLICY_OBJECTIVE,
  REGISTRY,
  REWARD_FUNCTION,
  RUN_CONFIG,
  TASK,
  TOKEN_WEIGHTER,
  TRAJECTORY_SOURCE,
} from '../tokens.js';

/** Inputs the train loop itself always provides (collated batch, behaviour logprobs from the rollout). */
export const TRAINER_PROVIDES: readonly Requirement[] = ['behaviourLogprobs', 'referenceLogprobs'];

interface SlotUse {
  pointer: string;
  kind: StrategyKind;
  token: InjectionToken<unknown>;
  slot: Slot;
}

function slotUses(config: ResolvedConfig): SlotUse[] {
  return [
    { pointer: '/task', kind: 'task', token: TASK, slot: config.task },
    { pointer: '/policy', kind: 'policy', token: POLICY, slot: config.policy },
    { pointer: '/reward', kind: 'reward-function', token: REWARD_FUNCTION, slot: config.reward },
    ...config.trainer.sources.map((slot, i) => ({
      pointer: `/trainer/sources/${i}`,
      kind: 'trajectory-source' as const,
      token: TRAJECTORY_SOURCE,
      slot,
    })),
    { pointer: '/trainer/advantage', kind: 'advantage-estimator', token: ADVANTAGE_ESTIMATOR, slot: config.trainer.advantage },
    ...config.trainer.weighters.map((slot, i) => ({
      pointer: `/trainer/weighters/${i}`,
      kind: 'token-weighter' as const,
      token: TOKEN_WEIGHTER,
      slot,
    })),
    { pointer: '/trainer/objective', kind: 'policy-objective', token: POLICY_OBJECTIVE, slot: config.trainer.objective },
  ];
}

/**
 * Refuses, before anything is built, a run where some strategy requires an input no strategy of the run (nor the
 * trainer) provides.
 * @throws Error naming the strategy, its config pointer and the missing inputs.
 */
export function checkRequirements(registry: StrategyRegistry, config: ResolvedConfig): void {
  const uses = slotUses(config).map((u) => ({ ...u, strategy: registry.get(u.kind, u.slot.name) }));
  const provided = new Set<Requirement>(TRAINER_PROVIDES);
  for (const u of uses) for (const p of u.strategy.definition.provides ?? []) provided.add(p);
  const problems: string[] = [];
  for (const u of uses) {
    const missing = (u.strategy.definition.requires ?? []).filter((r: Requirement) => !provided.has(r));
    if (missing.length > 0) {
      problems.push(
        `${u.kind} "${u.strategy.id}" (${u.pointer}) requires ${missing.map((m: string) => `"${m}"`).join(', ')}, which nothing in this run provides`,
      );
    }
  }
  if (problems.length > 0) {
    throw new Error(`This combination of strategies cannot run:\n  ${problems.join('\n  ')}\nProvided: ${[...provided].join(', ')}`);
  }
}

export interface RunContainerOptions {
  /** Directory relative paths in options resolve against. */
  baseDir: string;
  /** Parent container (default: tsyringe's root; never mutated). */
  parent?: DependencyContainer;
  /** Build only these kinds (e.g. evaluation needs no trajectory source). Default: all. */
  kinds?: readonly StrategyKind[];
}

/**
 * Builds one child container for one run: the config and registry as values, then every configured strategy,
 * created in dependency order (task, policy, reward, sources, advantage, weighters, objective) and registered under
 * its token. The policy is loaded from `init.checkpoint` (relative to `baseDir`) as soon as it is created. List kinds (sources, weighters) keep config order for `resolveAll`.
 * @throws Error from `checkRequirements`, or from a strategy factory (prefixed with the slot's pointer).
 */
export async function createRunContainer(
  registry: StrategyRegistry,
  config: ResolvedConfig,
  options: RunContainerOptions,
): Promise<DependencyContainer> {
  checkRequirements(registry, config);
  const container = (options.parent ?? rootContainer).createChildContainer();
  container.register(RUN_CONFIG, { useValue: config });
  container.register(REGISTRY, { useValue: registry });
  for (const use of slotUses(config)) {
    if (options.kinds && !options.kinds.includes(use.kind)) continue;
    const strategy: RegisteredStrategy = registry.get(use.kind, use.slot.name);
    let instance: unknown;
    try {
      instance = await strategy.definition.create(use.slot.options, {
        container,
        seed: config.seed,
        baseDir: options.baseDir,
      });
    } catch (e) {
      const err = e as Error;
      err.message = `${use.pointer} (${use.kind} "${strategy.id}"): ${err.message}`;
      throw err;
    }
    container.register(use.token, { useValue: instance });
    // The starting weights are in place before any later strategy is built (e.g. a frozen base-model copy).
    if (use.kind === 'policy' && config.init.checkpoint) {
      await (instance as Policy).load(policyCheckpointDir(resolve(options.baseDir, config.init.checkpoint)));
    }
  }
  return container;
}

/** The policy directory of a checkpoint: `<dir>/policy` for a training checkpoint, else `dir` itself. */
export function policyCheckpointDir(dir: string): string {
  const inner = join(dir, 'policy');
  return existsSync(join(inner, 'manifest.json')) ? inner : dir;
}
