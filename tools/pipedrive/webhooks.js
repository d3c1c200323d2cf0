// Drives walhook's Pipedrive webhooks API with the official Pipedrive Node client
// (npm "pipedrive", its v1 WebhooksApi), unchanged apart from its base URL. Run by
// cmd/walhook's TestPipedriveOfficialClient:
//
//   WALHOOK_BASE=http://127.0.0.1:8080 WALHOOK_TOKEN=… RECEIVER_URL=http://… node webhooks.js
//
// It prints one JSON object on stdout: what each call answered (or rejected with), for the
// Go test to check.
'use strict';

const { Configuration, WebhooksApi } = require('pipedrive/v1');

async function settle(p) {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    // The client rejects with the response body of a non-2xx answer.
    return { ok: false, value: err && err.message && !err.success ? { message: err.message, status: err.response && err.response.status } : err };
  }
}

async function main() {
  const base = process.env.WALHOOK_BASE;
  const api = new WebhooksApi(new Configuration({ apiKey: process.env.WALHOOK_TOKEN, basePath: base + '/v1' }));
  const unauthorized = new WebhooksApi(new Configuration({ apiKey: 'not-the-token', basePath: base + '/v1' }));
  const url = process.env.RECEIVER_URL;
  const out = {};
  out.addV2 = await settle(api.addWebhook({ AddWebhookRequest: {
    subscription_url: url, event_action: 'change', event_object: 'deal', name: 'deals changed',
    user_id: 7, http_auth_user: 'hook', http_auth_password: 's3cret', version: '2.0' } }));
  out.addV1 = await settle(api.addWebhook({ AddWebhookRequest: {
    subscription_url: url, event_action: '*', event_object: '*', name: 'everything, v1', version: '1.0' } }));
  out.listAfterAdd = await settle(api.getWebhooks());
  out.addStage = await settle(api.addWebhook({ AddWebhookRequest: {
    subscription_url: url, event_action: 'create', event_object: 'stage', name: 'stages' } }));
  out.addNoURL = await settle(api.addWebhook({ AddWebhookRequest: {
    subscription_url: '', event_action: 'create', event_object: 'deal', name: 'no url' } }));
  out.unauthorized = await settle(unauthorized.getWebhooks());
  if (out.addV2.ok) {
    out.delete = await settle(api.deleteWebhook({ id: out.addV2.value.data.id }));
    out.deleteAgain = await settle(api.deleteWebhook({ id: out.addV2.value.data.id }));
  }
  out.listAfterDelete = await settle(api.getWebhooks());
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
