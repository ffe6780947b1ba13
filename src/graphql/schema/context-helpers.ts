import DataLoader from "dataloader";
import { type Known, whenKnown } from "../../domain/access.js";
import { type Actor, actorOf } from "../../domain/audit.js";
import type { Viewer } from "../../domain/users.js";
import type { Invite, LinkInvite, Organization, User } from "../../generated/prisma/client.js";
import type { Context } from "../builder.js";
import { unauthenticated } from "../errors.js";
import { type EntityTypename, mayResolveEntity } from "../permissions.js";

/** Shield already denied anonymous callers; this keeps a missing rule from becoming a crash. */
export function requireViewer(ctx: Context): Viewer {
  if (!ctx.viewer) throw unauthenticated();
  return ctx.viewer;
}

/**
 * The organization of an invite or link, from the request's loader (one statement for every
 * organization asked about in a tick, shared with the rules that guard its fields).
 */
export function organizationOf(ctx: Context, organizationId: string): Known<Organization> {
  return whenKnown(ctx.access.organization(organizationId), (organization) => {
    // The foreign key cascades: an invite or link never outlives its organization.
    if (!organization) throw new Error(`Organization ${organizationId} not found`);
    return organization;
  });
}

/** The viewer as the actor of a change (recorded in the audit log). */
export function requireActor(ctx: Context): Actor {
  return actorOf(requireViewer(ctx));
}

type Entities = { organization: Organization; invite: Invite; linkInvite: LinkInvite; user: User };
const TYPENAMES = {
  organization: "Organization",
  invite: "Invite",
  linkInvite: "LinkInvite",
  user: "User",
} as const satisfies Record<keyof Entities, EntityTypename>;
type EntityModel = keyof Entities;
const entityLoaders = new WeakMap<Context, Map<EntityModel, DataLoader<string, unknown>>>();

/**
 * A federation entity by id, for `resolveReference`: the ids a gateway sends in one `_entities`
 * call are loaded with one findMany (one Prisma operation: Prisma's own batching of findUnique
 * also makes one statement, but interprets every findUnique on its own, which costs CPU per entity).
 */
export function loadEntity<M extends EntityModel>(ctx: Context, model: M, id: string): Promise<Entities[M] | null> {
  let loaders = entityLoaders.get(ctx);
  if (!loaders) {
    loaders = new Map();
    entityLoaders.set(ctx, loaders);
  }
  let loader = loaders.get(model);
  if (!loader) {
    const delegate = ctx.db[model] as unknown as {
      findMany(args: { where: { id: { in: string[] } } }): Promise<Array<{ id: string }>>;
    };
    loader = new DataLoader<string, unknown>(async (ids) => {
      const rows = await delegate.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((key) => byId.get(key) ?? null);
    });
    loaders.set(model, loader);
  }
  return loader.load(id) as Promise<Entities[M] | null>;
}

/**
 * `resolveReference` of an entity type: the row when the viewer may see it, else null, exactly as
 * for an id that does not exist (see mayResolveEntity in src/graphql/permissions.ts). `load` defaults to
 * loadEntity.
 */
export async function resolveVisibleEntity<M extends EntityModel>(
  ctx: Context,
  model: M,
  id: string,
  load: (id: string) => Known<Entities[M] | null> = (key) => loadEntity(ctx, model, key),
): Promise<Entities[M] | null> {
  const row = await load(id);
  if (row) return (await mayResolveEntity(TYPENAMES[model], row, ctx)) ? row : null;
  // An id that does not exist asks the same questions as one the viewer may not see (a stand-in with
  // the key alone), so that neither the statements sent nor their time tell the two apart. Invites'
  // and links' ids are secrets: knowing one is knowing that it exists.
  const standIn = model === "organization" ? { id } : model === "user" ? { id, email: null } : null;
  if (standIn) await mayResolveEntity(TYPENAMES[model], standIn, ctx);
  return null;
}
