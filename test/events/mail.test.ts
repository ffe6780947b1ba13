/**
 * Invite emails (SMTP_URL): each invite.created / invite.refreshed event is mailed from the outbox by
 * nodemailer to an SMTP server on loopback (smtp-server) that reads the message; a server that
 * refuses the first attempt still gets it on a retry, and a delivered email is never sent again.
 */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OutboxPayload } from "../../src/domain/outbox.js";
import { inviteMessage } from "../../src/events/mail.js";
import { type TestApp, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { useAppEvents } from "../helpers/events.js";
import { until } from "../helpers/wait.js";

const INVITE = /* GraphQL */ `
  mutation ($o: ID!, $emails: [String!]!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: $emails, role: EDIT }) {
      __typename ... on InviteUsersToOrganizationSuccess { invites { id expiresAt } }
    }
  }
`;
const CREATE_LINK = /* GraphQL */ `
  mutation ($o: ID!) {
    createLinkInvite(organizationId: $o, input: { role: READ }) { __typename }
  }
`;

interface Message {
  to: string[];
  raw: string;
}

/** Soft line breaks and =XX escapes of quoted-printable, so the test reads the text as sent. */
const decodeQuotedPrintable = (raw: string) =>
  raw
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

/** An SMTP server on loopback that refuses the first `refuse` messages sent to a recipient (451). */
async function startSmtp(refuse: number) {
  const accepted: Message[] = [];
  const refusedFor = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      let raw = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        raw += chunk;
      });
      stream.on("end", () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        const key = to.join(",");
        const refused = refusedFor.get(key) ?? 0;
        if (refused < refuse) {
          refusedFor.set(key, refused + 1);
          return callback(Object.assign(new Error("Try again later"), { responseCode: 451 }));
        }
        accepted.push({ to, raw: decodeQuotedPrintable(raw) });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    accepted,
    refusedFor,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe.each(DB_KINDS)("invite emails (%s)", (kind) => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  const env: Record<string, string> = {
    PUBLIC_URL: "https://app.example.com",
    SMTP_FROM: "Acme invites <invites@example.com>",
    EMAIL_BACKOFF: "50ms",
    OUTBOX_POLL_INTERVAL: "100ms",
  };
  beforeAll(async () => {
    smtp = await startSmtp(1);
    env.SMTP_URL = smtp.url;
  });
  afterAll(async () => {
    await smtp?.close();
  });
  const app = useTestApp(kind, env);
  useAppEvents(app);
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });

  it("mails a created invite: refused once, then delivered once, with title, inviter, role, link and expiry", async () => {
    const admin = await a.seed.user("mail-admin");
    const org = await a.seed.org(admin, "Mail & Co");
    const invitee = uniqueEmail("mailed");
    const res = await a.gql(INVITE, { variables: { o: org.id, emails: [invitee] }, token: admin.token });
    const invite = res.data?.inviteUsersToOrganization.invites[0] as { id: string; expiresAt: string };
    await a.gql(CREATE_LINK, { variables: { o: org.id }, token: admin.token });

    const row = await until("the email to be delivered", async () => {
      const r = await a.db.outboxEvent.findFirstOrThrow({
        where: { organizationId: org.id, action: "invite.created" },
      });
      return r.emailDeliveredAt ? r : null;
    });
    expect(row).toMatchObject({ emailAttempts: 2, emailNextAttemptAt: null, emailLastError: null });
    expect(smtp.refusedFor.get(invitee)).toBe(1);
    const mine = smtp.accepted.filter((m) => m.to.includes(invitee));
    expect(mine).toHaveLength(1);
    const raw = (mine[0] as Message).raw;
    expect(raw).toContain("From: Acme invites <invites@example.com>");
    expect(raw.toLowerCase()).toContain(`x-igw-event-id: ${row.id}`);
    expect(raw).toMatch(/Content-Type: text\/plain/);
    expect(raw).toMatch(/Content-Type: text\/html/);
    expect(raw).toContain(`${admin.email} invited you to join Mail & Co with the role edit.`);
    expect(raw).toContain("Mail &amp; Co"); // the HTML part, escaped
    expect(raw).toContain(`https://app.example.com/invite/${org.id}/${invite.id}`);
    expect(raw).toContain(`expires on ${invite.expiresAt.replace("T", " ").slice(0, 16)} UTC`);

    // The link event is not mailed; the delivered email is not sent again on later rounds.
    const link = await a.db.outboxEvent.findFirstOrThrow({ where: { organizationId: org.id, action: "link.created" } });
    expect(link).toMatchObject({ emailAttempts: 0, emailNextAttemptAt: null, emailDeliveredAt: null });
    // Even made due again (by hand), a delivered row is not claimed: the next invite's email goes out
    // (rows are claimed oldest due first, so the round that sends it saw this one) and this one does not.
    await a.db.outboxEvent.update({ where: { id: row.id }, data: { emailNextAttemptAt: new Date(0) } });
    const next = uniqueEmail("next");
    await a.gql(INVITE, { variables: { o: org.id, emails: [next] }, token: admin.token });
    await until("the next email", async () => smtp.accepted.some((m) => m.to.includes(next)));
    expect(smtp.accepted.filter((m) => m.to.includes(invitee))).toHaveLength(1);
    expect(await a.db.outboxEvent.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({ emailAttempts: 2 });
  });

  it("keeps a title and a name stored with CR/LF on their line: no injected header or line in any part", async () => {
    // Stored directly (the mutations refuse such text now; rows from before may hold it).
    const admin = await a.seed.user("crlf-admin");
    await a.db.user.update({ where: { id: admin.id }, data: { displayName: "Eve\r\nX-Injected-Name: yes" } });
    const org = await a.db.organization.create({
      data: {
        title: "Acme\r\nBcc: evil@evil.com\r\nX-Injected: yes\u2028\u0085Line",
        members: { create: { userId: admin.id, role: "ADMIN" } },
      },
    });
    const invitee = uniqueEmail("crlf");
    await a.gql(INVITE, { variables: { o: org.id, emails: [invitee] }, token: admin.token });
    await until("the email", async () => smtp.accepted.some((m) => m.to.includes(invitee)));
    const raw = (smtp.accepted.find((m) => m.to.includes(invitee)) as Message).raw;
    // A line of its own (a folded header's continuation starts with a space: it is no line of its own).
    const lines = raw.split(/\r\n|\r|\n|\u2028|\u0085/);
    expect(
      lines.filter((line) => /^(Bcc|X-Injected|X-Injected-Name|Line)\b/i.test(line)),
      raw,
    ).toEqual([]);
    expect(raw).toContain(
      "Eve X-Injected-Name: yes invited you to join Acme Bcc: evil@evil.com X-Injected: yes Line with the role edit.",
    );
    // Nobody else got it: the envelope has the invitee only.
    expect(smtp.accepted.filter((m) => m.to.includes("evil@evil.com"))).toEqual([]);
  });

  it("mails a refreshed invite again, and skips one revoked before its email went out", async () => {
    const admin = await a.seed.user("refresh-admin");
    const org = await a.seed.org(admin, "Refreshed");
    const invitee = uniqueEmail("refreshed");
    await a.gql(INVITE, { variables: { o: org.id, emails: [invitee] }, token: admin.token });
    await until("the first email", async () => smtp.accepted.some((m) => m.to.includes(invitee)));
    await a.gql(INVITE, { variables: { o: org.id, emails: [invitee] }, token: admin.token });
    const rows = await until("both deliveries to be recorded", async () => {
      const found = await a.db.outboxEvent.findMany({ where: { organizationId: org.id } });
      return found.every((r) => r.emailDeliveredAt !== null) ? found : null;
    });
    expect(rows.map((r) => r.action).sort()).toEqual(["invite.created", "invite.refreshed"]);
    expect(smtp.accepted.filter((m) => m.to.includes(invitee))).toHaveLength(2);

    // An invite revoked (or accepted, or expired) before its email went out is not mailed.
    const REVOKE = `mutation ($o: ID!, $i: ID!) { revokeInvite(organizationId: $o, inviteId: $i) { __typename } }`;
    const invite = await a.db.invite.findFirstOrThrow({ where: { organizationId: org.id } });
    await a.gql(REVOKE, { variables: { o: org.id, i: invite.id }, token: admin.token });
    const created = rows.find((r) => r.action === "invite.created");
    expect(await inviteMessage(a.db, created?.payload as unknown as OutboxPayload, "https://x.example")).toEqual({
      skip: "invite revoked",
    });
  });
});
