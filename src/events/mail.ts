import { createRequire } from "node:module";
import type { Transporter } from "nodemailer";
import type { MailConfig } from "../config.js";
import { inviteStatus } from "../domain/invites.js";
import type { OutboxPayload } from "../domain/outbox.js";
import { CONTROL_CHARACTERS } from "../domain/validation.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import { startDispatcher } from "./dispatcher.js";
import type { Worker } from "./worker.js";

export interface InviteMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

const CONTROL_RUNS = new RegExp(`${CONTROL_CHARACTERS.source}+`, "gu");

/**
 * Stored text as one line of the email: each run of control characters (CR, LF, NEL, U+2028, …:
 * whatever a reader would take for a line break, and the bidi overrides) becomes one space. The
 * mutations refuse such titles and names; rows stored before they did, or written by other means,
 * must not add lines (or headers) to the text part either.
 */
const oneLine = (text: string) => text.replace(CONTROL_RUNS, " ");

/**
 * The email of an invite.created / invite.refreshed event, from the invite as it is now: the
 * organization's title, the inviter, the role, the accept link (`PUBLIC_URL/invite/<org>/<invite>`,
 * the form of link-invite URLs) and the expiry. `{ skip }` when there is nothing to send any more:
 * the invite is gone, accepted, revoked or expired.
 */
export async function inviteMessage(
  db: PrismaClient,
  payload: OutboxPayload,
  publicUrl: string,
): Promise<InviteMessage | { skip: string }> {
  if (!payload.targetId) return { skip: "no invite" };
  const invite = await db.invite.findUnique({
    where: { id: payload.targetId },
    include: { organization: { select: { title: true } }, invitedBy: { select: { displayName: true, email: true } } },
  });
  if (!invite) return { skip: "invite deleted" };
  const status = inviteStatus(invite);
  if (status !== "PENDING") return { skip: `invite ${status.toLowerCase()}` };
  const inviter = oneLine(invite.invitedBy?.displayName ?? invite.invitedBy?.email ?? "Someone");
  const title = oneLine(invite.organization.title);
  const role = invite.role.toLowerCase();
  const link = `${publicUrl}/invite/${encodeURIComponent(invite.organizationId)}/${encodeURIComponent(invite.id)}`;
  const expires = `${invite.expiresAt.toISOString().replace("T", " ").slice(0, 16)} UTC`;
  return {
    to: invite.email,
    subject: `${inviter} invited you to ${title}`,
    text: [
      `${inviter} invited you to join ${title} with the role ${role}.`,
      "",
      `Accept the invitation: ${link}`,
      "",
      `This invitation expires on ${expires}. If you did not expect it, ignore this email.`,
      "",
    ].join("\n"),
    html: [
      `<p>${escapeHtml(inviter)} invited you to join <strong>${escapeHtml(title)}</strong> with the role ${escapeHtml(role)}.</p>`,
      `<p><a href="${escapeHtml(link)}">Accept the invitation</a></p>`,
      `<p>This invitation expires on ${escapeHtml(expires)}. If you did not expect it, ignore this email.</p>`,
    ].join("\n"),
  };
}

/**
 * The invite mailer (SMTP_URL): sends the email of each committed invite.created / invite.refreshed
 * row with nodemailer, retried like webhooks (src/events/dispatcher.ts), EMAIL_MAX_ATTEMPTS at most.
 * Once a row's email is delivered (the SMTP server accepted it) it is never sent again; a crash
 * between the server's acceptance and the mark may send it twice (at least once).
 */
export function startInviteMailer(options: {
  db: PrismaClient;
  config: MailConfig;
  logger: Logger;
  pollIntervalMs: number;
}): Worker & { transport: Transporter } {
  const { db, config } = options;
  // Loaded here, with SMTP_URL only: a process that sends no email does not hold nodemailer (about
  // 2.7 MB of heap, bench/results/memory-2026-12-03.md). A CommonJS package: `require` keeps this synchronous.
  const nodemailer = createRequire(import.meta.url)("nodemailer") as typeof import("nodemailer");
  const transport = nodemailer.createTransport({
    url: config.smtpUrl,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  const worker = startDispatcher({
    db,
    channel: "email",
    retry: config,
    leaseMs: 120_000,
    logger: options.logger,
    pollIntervalMs: options.pollIntervalMs,
    async deliver(payload) {
      const message = await inviteMessage(db, payload, config.publicUrl);
      if ("skip" in message) return message;
      try {
        await transport.sendMail({ from: config.from, ...message, headers: { "x-igw-event-id": payload.id } });
        return null;
      } catch (error) {
        const code = (error as { responseCode?: number }).responseCode;
        return `${error instanceof Error ? error.message : String(error)}${code ? ` (SMTP ${code})` : ""}`;
      }
    },
  });
  return {
    transport,
    wake: worker.wake,
    async close() {
      await worker.close();
      transport.close();
    },
  };
}
