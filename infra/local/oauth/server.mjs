// Local OAuth 2.0 authorization server for the Nhi.Serverless stack, built on oidc-provider.
//
// It issues opaque access tokens with the client credentials grant (RFC 6749 section 4.4), revokes them
// (RFC 7009) and introspects them (RFC 7662). Each partner API is a resource server named by a resource
// indicator (RFC 8707). A token carries exactly one audience and only scopes that API accepts.
//
// Settings (environment variables):
//   NHI_OAUTH_PORT          TCP port on 127.0.0.1 (default 7490)
//   NHI_OAUTH_CLIENTS_FILE  JSON file with the client ids and secrets; must not be readable by group or others
//   NHI_OAUTH_TOKEN_TTL     access token lifetime in seconds (default 600)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const port = Number.parseInt(process.env.NHI_OAUTH_PORT ?? '7490', 10);
const clientsFile = process.env.NHI_OAUTH_CLIENTS_FILE;
const tokenTtl = Number.parseInt(process.env.NHI_OAUTH_TOKEN_TTL ?? '600', 10);

function fail(message) {
  console.error(`oauth: error: ${message}`);
  process.exit(1);
}

function log(message) {
  console.log(`${new Date().toISOString()} oauth: ${message}`);
}

if (!Number.isInteger(port) || port < 1 || port > 65535) {
  fail(`NHI_OAUTH_PORT must be a TCP port number (1-65535), got '${process.env.NHI_OAUTH_PORT}'`);
}

if (!Number.isInteger(tokenTtl) || tokenTtl < 1) {
  fail(`NHI_OAUTH_TOKEN_TTL must be a positive number of seconds, got '${process.env.NHI_OAUTH_TOKEN_TTL}'`);
}

if (!clientsFile) {
  fail('NHI_OAUTH_CLIENTS_FILE is not set; infra/local/stack.sh start sets it to the clients file in the work folder');
}

// The file contains client secrets, so refuse to run when other users could read it.
if ((statSync(clientsFile).mode & 0o077) !== 0) {
  fail(`${clientsFile} is readable by group or others; run 'chmod 600 ${clientsFile}'`);
}

const secrets = JSON.parse(readFileSync(clientsFile, 'utf8'));
for (const key of ['brokerClientId', 'brokerClientSecret', 'partnerClientId', 'partnerClientSecret']) {
  if (typeof secrets[key] !== 'string' || secrets[key].length === 0) {
    fail(`${clientsFile} has no value for '${key}'`);
  }
}

// The partner APIs, keyed by resource indicator. A token for one of them carries only scopes from its list.
const resourceServers = new Map([
  ['urn:nhi:partner:credit-bureau', 'credit-score:read'],
  ['urn:nhi:partner:fraud-screening', 'fraud:check'],
  ['urn:nhi:partner:insurer', 'insurance:validate'],
  ['urn:nhi:partner:payments', 'payments:write'],
]);

// Every scope a resource server accepts. Listing them here makes the server reject a requested scope that
// is not in the client's own scope list with invalid_scope.
const allScopes = [...resourceServers.values()].flatMap((scope) => scope.split(' '));

const issuer = `http://127.0.0.1:${port}`;

// oidc-provider needs a signing key even though opaque tokens are never signed. A new key per start is
// enough, because nothing outside this process verifies it.
// RS256 is the default ID token algorithm of OpenID Connect clients, so an RSA key needs no client settings.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: randomBytes(8).toString('hex') };

const configuration = {
  clients: [
    {
      // The broker: it requests short-lived tokens for the scopes one workflow step declares.
      client_id: secrets.brokerClientId,
      client_secret: secrets.brokerClientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'credit-score:read fraud:check insurance:validate',
    },
    {
      // A partner API acting as resource server: it only introspects the tokens presented to it.
      client_id: secrets.partnerClientId,
      client_secret: secrets.partnerClientSecret,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', ...allScopes],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: {
    ClientCredentials: () => tokenTtl,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Only the client that the token was issued to and the partner API may learn what it grants.
      allowedPolicy: (ctx, client, token) =>
        client.clientId === token.clientId || client.clientId === secrets.partnerClientId,
    },
    revocation: {
      enabled: true,
      // A client may revoke only tokens issued to itself.
      allowedPolicy: (ctx, client, token) => {
        if (client.clientId !== token.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        return true;
      },
    },
    resourceIndicators: {
      enabled: true,
      // A client credentials request must name its partner API, so no token leaves without an audience.
      defaultResource: (ctx, client, oneOf) => {
        if (oneOf === undefined && ctx.oidc.params.grant_type === 'client_credentials') {
          throw new errors.InvalidTarget('a resource indicator (the partner API) is required');
        }
        return oneOf;
      },
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        const scope = resourceServers.get(resourceIndicator);
        if (scope === undefined) {
          throw new errors.InvalidTarget(`unknown resource indicator ${resourceIndicator}`);
        }
        return { scope, audience: resourceIndicator, accessTokenTTL: tokenTtl, accessTokenFormat: 'opaque' };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);

// The event payloads are token objects; only their public facts are logged, never the token value.
provider.on('client_credentials.saved', (token) => {
  log(`issued access token to client ${token.clientId} for audience ${token.aud ?? '(none)'} with scope '${token.scope ?? ''}', expiring in ${token.expiration} s`);
});
provider.on('client_credentials.destroyed', (token) => {
  log(`revoked access token of client ${token.clientId} for audience ${token.aud ?? '(none)'}`);
});
for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'server_error']) {
  provider.on(event, (ctx, error) => {
    log(`${event}: ${error.name}: ${error.message}${error.error_description ? ` (${error.error_description})` : ''}`);
  });
}

const server = provider.listen(port, '127.0.0.1', () => {
  log(`listening on ${issuer} (pid ${process.pid}), access tokens valid for ${tokenTtl} s`);
});

function stop(signal) {
  log(`received ${signal}, stopping`);
  server.close(() => process.exit(0));
  // Keep-alive connections can hold close() open; exit anyway after a second.
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
