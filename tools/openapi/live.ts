// live.ts drives a running walhook through a client generated from api/openapi.json by
// @hey-api/openapi-ts (gen/client) and checks, for every call, that the response is what
// the generated types say it is: its status, and its body validated at runtime against the
// schema the document gives for that operation and status (objects may not carry keys the
// document does not declare). It also receives walhook's deliveries on a local HTTP server
// and validates each request's body and headers against the document's webhooks section.
//
// The types of openapi-typescript (gen/schema.d.ts) are checked at compile time: a request
// body without chunk_size, insecure_ssl or signing must type-check.
//
// Environment: WALHOOK_BASE (http://host:port), WALHOOK_TOKEN. It exits non-zero with one
// line per problem. cmd/walhook/openapi_client_e2e_test.go runs it against the real binary
// while it writes CRM rows (Task updates) so that deliveries happen.

import { createHmac } from "node:crypto";
import { createServer, IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";

import { createClient, createConfig } from "./gen/client/client";
import * as sdk from "./gen/client/sdk.gen";
import type { Webhook, WebhookCreateWritable, Delivery, DeadLetter, Chunk } from "./gen/client/types.gen";
import type { components } from "./gen/schema";

// Compile-time checks of openapi-typescript's types: what DESIGN.md §4 makes optional must
// be optional (a `default` in the document made them required).
const minimalOptions: components["schemas"]["Options"] = {};
const minimalCreate: components["schemas"]["WebhookCreate"] = { url: "https://example.com", events: ["*"] };
const heyMinimalCreate: WebhookCreateWritable = { url: "https://example.com", events: ["*"] };
void [minimalOptions, minimalCreate, heyMinimalCreate];

const base = need("WALHOOK_BASE");
const token = need("WALHOOK_TOKEN");
const space = "ts-client";
const secret = "7d3c0f5e-2b1a-4c9d-8e7f-0a1b2c3d4e5f";
const problems: string[] = [];

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`live.ts: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

function problem(msg: string): void {
  problems.push(msg);
  console.error("PROBLEM: " + msg);
}

// Every object schema that declares properties and says nothing about others is closed, so
// that a key walhook sends and the document does not declare is reported.
function closeObjects(v: unknown): void {
  if (Array.isArray(v)) {
    v.forEach(closeObjects);
  } else if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o.properties && !("additionalProperties" in o)) {
      o.additionalProperties = false;
    }
    Object.values(o).forEach(closeObjects);
  }
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
const collection = "/api/v100/rest/spaces/{space_id}/entities/Webhooks";

async function main(): Promise<void> {
  const docResp = await fetch(base + "/api/openapi.json");
  const doc = (await docResp.json()) as Record<string, any>;
  closeObjects(doc);
  const resolve = (v: any): any => {
    if (!v.$ref) return v;
    let cur: any = doc;
    for (const part of v.$ref.replace(/^#\//, "").split("/")) cur = cur[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    return cur;
  };
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, "oas");

  // check validates body against the document's schema at #/paths/{path}/{method}/responses/{status}.
  const check = (what: string, path: string, method: string, status: number, gotStatus: number | undefined, body: unknown) => {
    if (gotStatus !== status) {
      problem(`${what}: status ${gotStatus}, want ${status}: ${JSON.stringify(body)}`);
      return;
    }
    let resp = doc.paths[path]?.[method]?.responses?.[String(status)];
    if (!resp) {
      problem(`${what}: the document has no ${status} response for ${method.toUpperCase()} ${path}`);
      return;
    }
    const ref = resp.$ref ? resp.$ref : `#/${pointer("paths", path, method, "responses", String(status))}`;
    const validate = ajv.getSchema(`oas${ref}/content/application~1json/schema`);
    if (!validate) {
      problem(`${what}: no schema at ${ref}`);
    } else if (!validate(body)) {
      problem(`${what}: body does not match the document: ${ajv.errorsText(validate.errors)}: ${JSON.stringify(body).slice(0, 600)}`);
    }
  };

  // The receiver: every request walhook sends is validated against the webhooks section.
  const chunks: { headers: IncomingHttpHeaders; body: Chunk }[] = [];
  const receiver = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(parts);
      const standard = typeof req.headers["webhook-signature"] === "string" && req.headers["webhook-signature"].startsWith("v1,");
      const name = standard ? "standardWebhooksChunk" : "pipelinerChunk";
      const op = doc.webhooks[name].post;
      for (const p of op.parameters) {
        const param = resolve(p);
        const value = req.headers[param.name.toLowerCase()];
        const v = ajv.getSchema(`oas${p.$ref}/schema`);
        if (value === undefined) {
          if (param.required) problem(`${name}: header ${param.name} missing`);
        } else if (v && !v(value)) {
          problem(`${name}: header ${param.name}: ${JSON.stringify(value)}: ${ajv.errorsText(v.errors)}`);
        }
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch (e) {
        problem(`${name}: body is not JSON: ${e}`);
      }
      const v = ajv.getSchema(`oas#/${pointer("webhooks", name, "post", "requestBody", "content", "application/json", "schema")}`)!;
      if (!v(body)) {
        problem(`${name}: body does not match the document: ${ajv.errorsText(v.errors)}: ${raw.toString("utf8").slice(0, 600)}`);
      }
      const id = String(req.headers["webhook-id"]), ts = String(req.headers["webhook-timestamp"]);
      const want = standard
        ? "v1," + createHmac("sha256", secret).update(`${id}.${ts}.`).update(raw).digest("base64")
        : createHmac("sha256", secret).update(raw).digest("hex");
      // WebHook-Signature and Standard Webhooks' webhook-signature are one header name.
      const got = req.headers["webhook-signature"];
      if (got !== want) problem(`${name}: signature ${got}, want ${want}`);
      chunks.push({ headers: req.headers, body: body as Chunk });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const hookURL = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const client = createClient(createConfig({ baseUrl: base, auth: () => token }));
  const anonymous = createClient(createConfig({ baseUrl: base }));
  // Basic auth alone, the token as password (hey-api's basic token is "user:password").
  const basicOnly = createClient(createConfig({ baseUrl: base, auth: (a) => (a.scheme === "basic" ? "any:" + token : undefined) }));
  const item = `${collection}/{id}`;

  // Unauthenticated: 401 with the error envelope.
  const denied = await sdk.listWebhooks({ client: anonymous, path: { space_id: space } });
  check("list without a token", collection, "get", 401, denied.response?.status, denied.error);

  const viaBasic = await sdk.listWebhooks({ client: basicOnly, path: { space_id: space } });
  check("list with Basic auth", collection, "get", 200, viaBasic.response?.status, viaBasic.data ?? viaBasic.error);

  const body: WebhookCreateWritable = { url: hookURL, events: ["Task.Update"], signature: secret };
  const created = await sdk.createWebhook({ client, path: { space_id: space }, body });
  check("create", collection, "post", 200, created.response?.status, created.data ?? created.error);
  if (!created.data) throw new Error("create failed: " + JSON.stringify(created.error));
  const wh: Webhook = created.data.data;
  if (wh.signature !== secret || wh.status !== "active" || wh.events[0] !== "Task.Update") {
    problem(`create answered ${JSON.stringify(wh)}`);
  }
  const path = { space_id: space, id: wh.id };

  const listed = await sdk.listWebhooks({ client, path: { space_id: space }, query: { limit: 1000 } });
  check("list", collection, "get", 200, listed.response?.status, listed.data ?? listed.error);
  if (!listed.data?.data.some((w: Webhook) => w.id === wh.id)) problem("list lacks the created webhook");

  const got = await sdk.getWebhook({ client, path });
  check("get", item, "get", 200, got.response?.status, got.data ?? got.error);
  if (got.data && got.data.data.signature === secret) problem("get shows the signature unmasked");

  const patched = await sdk.updateWebhook({ client, path, body: { events: ["Task.*"], options: { chunk_size: 10 } } });
  check("patch", item, "patch", 200, patched.response?.status, patched.data ?? patched.error);
  if (patched.data?.data.options.chunk_size !== 10) problem(`patch: options ${JSON.stringify(patched.data?.data.options)}`);

  const invalid = await sdk.updateWebhook({ client, path, body: { options: { chunk_size: 1000 } } });
  check("patch chunk_size 1000", item, "patch", 422, invalid.response?.status, invalid.error);

  const paused = await sdk.pauseWebhook({ client, path });
  check("pause", `${item}/pause`, "post", 200, paused.response?.status, paused.data ?? paused.error);
  if (paused.data?.data.status !== "paused") problem(`pause: status ${paused.data?.data.status}`);
  const resumed = await sdk.resumeWebhook({ client, path });
  check("resume", `${item}/resume`, "post", 200, resumed.response?.status, resumed.data ?? resumed.error);
  if (resumed.data?.data.status !== "active") problem(`resume: status ${resumed.data?.data.status}`);

  const sec = await sdk.getWebhookSecret({ client, path });
  check("secret", `${item}/secret`, "get", 200, sec.response?.status, sec.data ?? sec.error);
  if (sec.data?.data.signature !== secret) problem(`secret: ${JSON.stringify(sec.data)}`);

  // Deliveries: the test writes CRM rows meanwhile; wait for delivered entries, in both
  // signing modes.
  const waitDelivered = async (what: string, signing: string): Promise<Delivery[]> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await sdk.listDeliveries({ client, path, query: { limit: 1000 } });
      check("deliveries", `${item}/deliveries`, "get", 200, r.response?.status, r.data ?? r.error);
      const delivered = (r.data?.data ?? []).filter((d: Delivery) => d.outcome === "delivered");
      const received = chunks.filter((c) => (signing === "standard-webhooks") === String(c.headers["webhook-signature"]).startsWith("v1,"));
      if (delivered.length > 0 && received.length > 0) return delivered;
      if (Date.now() > deadline || problems.length > 20) {
        problem(`${what}: no delivery within 30s (${delivered.length} logged, ${received.length} received)`);
        return [];
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await waitDelivered("pipeliner deliveries", "pipeliner");
  const standard = await sdk.updateWebhook({ client, path, body: { signing: "standard-webhooks" } });
  check("patch signing", item, "patch", 200, standard.response?.status, standard.data ?? standard.error);
  await waitDelivered("standard-webhooks deliveries", "standard-webhooks");

  const dead = await sdk.listDeadLetters({ client, path });
  check("dead letters", `${item}/dead-letters`, "get", 200, dead.response?.status, dead.data ?? dead.error);
  const letters: DeadLetter[] = dead.data?.data ?? [];
  if (letters.length !== 0) problem(`dead letters: ${letters.length}, want none`);
  const redelivered = await sdk.redeliver({ client, path, body: {} });
  check("redeliver", `${item}/redeliver`, "post", 200, redelivered.response?.status, redelivered.data ?? redelivered.error);
  const missing = await sdk.redeliver({ client, path, body: { dead_letter_id: "01234567-abcd-dcba-ffff-000000000000" } });
  check("redeliver unknown", `${item}/redeliver`, "post", 404, missing.response?.status, missing.error);

  const deleted = await sdk.deleteWebhook({ client, path });
  check("delete", item, "delete", 200, deleted.response?.status, deleted.data ?? deleted.error);
  const gone = await sdk.getWebhook({ client, path });
  check("get after delete", item, "get", 404, gone.response?.status, gone.error);

  receiver.close();
  console.log(`live.ts: ${chunks.length} chunks received and validated, ${problems.length} problems`);
  process.exit(problems.length === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error("live.ts:", e);
  process.exit(1);
});
