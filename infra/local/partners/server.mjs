// Partner APIs for the Nhi.Serverless business workflows: a credit bureau, a fraud screening service and an
// insurer, served by one Node.js process on 127.0.0.1.
//
// Each API is an OAuth 2.0 resource server. It checks every bearer token by RFC 7662 introspection at the local
// authorization server (infra/local/oauth) with the partner-api client, and requires its own audience (the RFC 8707
// resource indicator) and scope. Responses come from a fixture file keyed by id, so tests can predict them.
//
// Settings (environment variables):
//   NHI_PARTNER_PORT          TCP port on 127.0.0.1 (default 7491)
//   NHI_OAUTH_ISSUER          issuer URL of the authorization server, such as http://127.0.0.1:7490
//   NHI_PARTNER_CLIENT_FILE   JSON file with clientId and clientSecret of the introspection client, which must not be
//                             readable by group or others
//   NHI_PARTNER_FIXTURES      fixture file (default: fixtures.json next to this file)
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import process from 'node:process';

const port = Number.parseInt(process.env.NHI_PARTNER_PORT ?? '7491', 10);
const issuer = process.env.NHI_OAUTH_ISSUER;
const clientFile = process.env.NHI_PARTNER_CLIENT_FILE;
const fixturesFile = process.env.NHI_PARTNER_FIXTURES ?? new URL('fixtures.json', import.meta.url).pathname;

// Request bodies are a few hundred bytes, so a larger one gets 413.
const maxBodyBytes = 16 * 1024;
const introspectionTimeoutMs = 5000;

// Writes one JSON line to stdout, which stack.sh appends to the log file. Never pass a token or a secret.
function log(event, fields = {}) {
  console.log(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
}

function fail(message) {
  log('startup-failed', { error: message });
  process.exit(1);
}

if (!Number.isInteger(port) || port < 1 || port > 65535) {
  fail(`NHI_PARTNER_PORT must be a TCP port number (1-65535), got '${process.env.NHI_PARTNER_PORT}'`);
}
if (!issuer) {
  fail('NHI_OAUTH_ISSUER is not set; infra/local/stack.sh start sets it to the local authorization server');
}
if (!clientFile) {
  fail('NHI_PARTNER_CLIENT_FILE is not set; infra/local/stack.sh start writes it into the work folder');
}

// Returns the parsed content of the JSON file PATH, or exits with the reason it could not be read.
function readJsonFile(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return fail(`${path} could not be read as JSON: ${error.message}`);
  }
}

// The file contains the introspection client's secret, so exit when other users could read it.
const client = readJsonFile(clientFile);
if ((statSync(clientFile).mode & 0o077) !== 0) {
  fail(`${clientFile} is readable by group or others; run 'chmod 600 ${clientFile}'`);
}
for (const key of ['clientId', 'clientSecret']) {
  if (typeof client[key] !== 'string' || client[key].length === 0) {
    fail(`${clientFile} has no value for '${key}'`);
  }
}
const introspectionAuthorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;

const fixtures = readJsonFile(fixturesFile);
for (const section of ['creditBureau.scores', 'fraudScreening.checks', 'insurer.members']) {
  const value = section.split('.').reduce((node, key) => node?.[key], fixtures);
  if (value === null || typeof value !== 'object') {
    fail(`${fixturesFile} has no object at '${section}'`);
  }
}

// Problem details (RFC 9457) for every error response.
class Problem extends Error {
  constructor(status, title, detail, headers = {}) {
    super(detail);
    this.status = status;
    this.title = title;
    this.headers = headers;
  }
}

function badRequest(field, expected, value) {
  const received = value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 80);
  return new Problem(400, 'Invalid request', `${field} must be ${expected}, got ${received}`);
}

function notFound(detail) {
  return new Problem(404, 'Not found', detail);
}

// RFC 6750 section 3: the challenge names the API and, for a rejected token, the error code.
function bearerChallenge(api, error, description, scope) {
  let challenge = `Bearer realm="${api.audience}", error="${error}", error_description="${description}"`;
  if (scope) {
    challenge += `, scope="${scope}"`;
  }
  return challenge;
}

// NOTE: RFC 6750 section 3.1 recommends that a request without credentials get a challenge without an error code.
// This server sends error="invalid_token" for that case too, so a client handles every 401 in one way.
function invalidToken(api, description) {
  return new Problem(401, 'Unauthorized', `The access token ${description}.`, {
    'WWW-Authenticate': bearerChallenge(api, 'invalid_token', `The access token ${description}`),
  });
}

function introspectionUnavailable() {
  return new Problem(503, 'Service unavailable', 'The authorization server could not check the access token. Retry later.', { 'Retry-After': '1' });
}

// Returns the introspection response for TOKEN. Throws a 503 Problem when the authorization server fails.
async function introspect(endpoint, token) {
  let response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        Authorization: introspectionAuthorization,
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
      },
      body: new URLSearchParams({ token }).toString(),
      signal: AbortSignal.timeout(introspectionTimeoutMs),
    });
  } catch (error) {
    // fetch reports a refused connection as "fetch failed" and puts the reason in error.cause.
    const cause = error.cause ? ` (${error.cause.code ?? error.cause.message})` : '';
    log('introspection-failed', { error: `${error.name}: ${error.message}${cause}` });
    throw introspectionUnavailable();
  }
  if (!response.ok) {
    log('introspection-failed', { status: response.status });
    throw introspectionUnavailable();
  }
  return response.json();
}

// Checks the bearer token of REQUEST for API and records the client and scopes in CONTEXT for the request log.
async function authorize(request, api, context) {
  const header = request.headers.authorization ?? '';
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/.exec(header);
  if (!match) {
    throw invalidToken(api, header ? 'is not a Bearer token' : 'is missing');
  }

  const result = await introspect(await introspectionEndpoint(), match[1]);
  if (result.active !== true) {
    throw invalidToken(api, 'is not active');
  }
  context.clientId = result.client_id ?? null;
  context.scopes = typeof result.scope === 'string' ? result.scope.split(' ').filter(Boolean) : [];

  const audiences = Array.isArray(result.aud) ? result.aud : [result.aud];
  if (!audiences.includes(api.audience)) {
    throw invalidToken(api, 'was issued for another audience');
  }
  if (!context.scopes.includes(api.scope)) {
    throw new Problem(403, 'Forbidden', `The access token lacks the scope ${api.scope}.`, {
      'WWW-Authenticate': bearerChallenge(api, 'insufficient_scope', `The access token lacks the scope ${api.scope}`, api.scope),
    });
  }
}

let cachedIntrospectionEndpoint;

// Reads the introspection endpoint from the authorization server's metadata once, on first use.
async function introspectionEndpoint() {
  if (cachedIntrospectionEndpoint) {
    return cachedIntrospectionEndpoint;
  }
  let metadata;
  try {
    const response = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(introspectionTimeoutMs) });
    if (!response.ok) {
      throw new Error(`HTTP ${response.status}`);
    }
    metadata = await response.json();
  } catch (error) {
    log('metadata-failed', { issuer, error: error.message });
    throw new Problem(503, 'Service unavailable', 'The authorization server metadata could not be read. Retry later.', { 'Retry-After': '1' });
  }
  if (typeof metadata.introspection_endpoint !== 'string') {
    log('metadata-failed', { issuer, error: 'no introspection_endpoint in the metadata' });
    throw new Problem(503, 'Service unavailable', 'The authorization server does not offer token introspection.');
  }
  cachedIntrospectionEndpoint = metadata.introspection_endpoint;
  return cachedIntrospectionEndpoint;
}

async function readJsonBody(request) {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new Problem(415, 'Unsupported media type', `The request body must be application/json, got '${type || 'no Content-Type'}'.`);
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > maxBodyBytes) {
      throw new Problem(413, 'Content too large', `The request body must be at most ${maxBodyBytes} bytes.`);
    }
    chunks.push(chunk);
  }
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new Problem(400, 'Invalid request', `The request body is not valid JSON: ${error.message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new Problem(400, 'Invalid request', 'The request body must be a JSON object.');
  }
  return body;
}

const idPattern = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

function requireId(body, field) {
  const value = body[field];
  if (typeof value !== 'string' || !idPattern.test(value)) {
    throw badRequest(field, 'an id of 1 to 64 letters, digits and hyphens', value);
  }
  return value;
}

// Returns VALUE if it is a calendar date in the form YYYY-MM-DD.
function requireDate(body, field) {
  const value = body[field];
  const valid = typeof value === 'string'
    && /^\d{4}-\d{2}-\d{2}$/.test(value)
    && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value);
  if (!valid) {
    throw badRequest(field, 'a calendar date in the form YYYY-MM-DD', value);
  }
  return value;
}

function decodePathSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new Problem(400, 'Invalid request', `The path segment ${segment.slice(0, 80)} is not valid percent-encoded UTF-8.`);
  }
}

function creditScore(applicantId) {
  if (!idPattern.test(applicantId)) {
    throw badRequest('applicantId', 'an id of 1 to 64 letters, digits and hyphens', applicantId);
  }
  const entry = fixtures.creditBureau.scores[applicantId];
  if (!entry) {
    throw notFound(`The credit bureau has no file for applicant ${applicantId}.`);
  }
  return { applicantId, score: entry.score, band: entry.band, reportedAt: entry.reportedAt };
}

const subjectTypes = ['loan-applicant', 'insurance-claim'];

function fraudCheck(body) {
  const { subjectType } = body;
  if (!subjectTypes.includes(subjectType)) {
    throw badRequest('subjectType', `one of ${subjectTypes.map((type) => `"${type}"`).join(', ')}`, subjectType);
  }
  const subjectId = requireId(body, 'subjectId');
  if (typeof body.amount !== 'number' || !Number.isFinite(body.amount) || body.amount < 0) {
    throw badRequest('amount', 'a number of 0 or more', body.amount);
  }
  const signals = body.signals ?? [];
  if (!Array.isArray(signals) || signals.length > 50 || !signals.every((signal) => typeof signal === 'string' && signal.length <= 200)) {
    throw badRequest('signals', 'an array of at most 50 strings of at most 200 characters', body.signals);
  }

  const entry = fixtures.fraudScreening.checks[subjectType]?.[subjectId];
  if (!entry) {
    throw notFound(`The fraud screening service has no record for ${subjectType} ${subjectId}.`);
  }
  return { checkId: entry.checkId, riskScore: entry.riskScore, decision: entry.decision, reasons: entry.reasons };
}

function eligibility(body) {
  const memberId = requireId(body, 'memberId');
  const { procedureCode } = body;
  if (typeof procedureCode !== 'string' || !/^[0-9A-Z]{5}$/.test(procedureCode)) {
    throw badRequest('procedureCode', 'a procedure code of 5 digits or capital letters, such as "99213"', procedureCode);
  }
  const date = requireDate(body, 'date');

  const member = fixtures.insurer.members[memberId];
  if (!member) {
    throw notFound(`The insurer has no member ${memberId}.`);
  }
  const answer = { memberId, covered: false, planName: member.planName, copay: null };
  if (date < member.coverageStart || date > member.coverageEnd) {
    return { ...answer, reason: `not covered: plan ${member.planName} is active from ${member.coverageStart} to ${member.coverageEnd}, not on ${date}` };
  }
  const procedure = member.procedures[procedureCode];
  if (!procedure) {
    return { ...answer, reason: `not covered: procedure ${procedureCode} is not part of plan ${member.planName}` };
  }
  return { ...answer, covered: procedure.covered, copay: procedure.copay, reason: procedure.reason };
}

// The three APIs, each with its audience, scope and routes. A route's handler returns the response body.
const apis = [
  {
    audience: 'urn:nhi:partner:credit-bureau',
    scope: 'credit-score:read',
    routes: [
      { method: 'GET', pattern: /^\/credit-bureau\/v1\/scores\/([^/]+)$/, handle: (match) => creditScore(decodePathSegment(match[1])) },
    ],
  },
  {
    audience: 'urn:nhi:partner:fraud-screening',
    scope: 'fraud:check',
    routes: [
      { method: 'POST', pattern: /^\/fraud-screening\/v1\/checks$/, handle: (match, body) => fraudCheck(body) },
    ],
  },
  {
    audience: 'urn:nhi:partner:insurer',
    scope: 'insurance:validate',
    routes: [
      { method: 'POST', pattern: /^\/insurer\/v1\/eligibility$/, handle: (match, body) => eligibility(body) },
    ],
  },
];

function findRoute(path) {
  for (const api of apis) {
    for (const route of api.routes) {
      const match = route.pattern.exec(path);
      if (match) {
        return { api, route, match };
      }
    }
  }
  return null;
}

function send(response, status, body, headers = {}, contentType = 'application/json') {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  response.end(text);
}

async function handle(request, response, context) {
  if (context.path === '/healthz') {
    send(response, 200, { status: 'ok' });
    return;
  }

  const found = findRoute(context.path);
  if (!found) {
    throw notFound(`No partner API serves ${context.path}.`);
  }
  const { api, route, match } = found;
  if (request.method !== route.method) {
    throw new Problem(405, 'Method not allowed', `${context.path} accepts only ${route.method}.`, { Allow: route.method });
  }

  await authorize(request, api, context);
  const body = route.method === 'POST' ? await readJsonBody(request) : undefined;
  send(response, 200, route.handle(match, body));
}

const server = createServer(async (request, response) => {
  const start = process.hrtime.bigint();
  const context = { path: new URL(request.url, 'http://127.0.0.1').pathname, clientId: null, scopes: [] };
  try {
    await handle(request, response, context);
  } catch (error) {
    if (!(error instanceof Problem)) {
      log('request-error', { method: request.method, path: context.path, error: `${error.name}: ${error.message}` });
      error = new Problem(500, 'Internal server error', 'The partner API failed. See its log for the error.');
    }
    send(response, error.status, { type: 'about:blank', title: error.title, status: error.status, detail: error.message }, error.headers, 'application/problem+json');
  }
  if (context.path !== '/healthz') {
    log('request', {
      method: request.method,
      path: context.path,
      status: response.statusCode,
      client_id: context.clientId,
      scopes: context.scopes,
      duration_ms: Number((process.hrtime.bigint() - start) / 1000n) / 1000,
    });
  }
});

server.listen(port, '127.0.0.1', () => {
  log('listening', { url: `http://127.0.0.1:${port}`, pid: process.pid, issuer, fixtures: fixturesFile });
});

function stop(signal) {
  log('stopping', { signal });
  server.close(() => process.exit(0));
  // Keep-alive connections can hold close() open, so exit anyway after a second.
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
