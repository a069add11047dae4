// Upload the workflow fixture blobs to Azurite, for stack.sh seed.
//
// Each named container is created (private) if missing and reset to exactly the files in the folder of the same
// name: every file is uploaded again with the same content, and blobs that are not fixture files are deleted, so a
// workflow that expects a document to be missing finds it missing. Requests are signed with the Shared Key scheme
// of Azure Storage, by hand with node:crypto, so the script needs no npm package.
//
// Settings (environment variables):
//   NHI_AZURE_STORAGE_CONNECTION_STRING  connection string with AccountName, AccountKey and BlobEndpoint
//   NHI_BLOB_FIXTURES_DIR                folder with one subfolder per container
//   NHI_BLOB_CONTAINERS                  comma-separated container names, each a subfolder of NHI_BLOB_FIXTURES_DIR
import { createHash, createHmac } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';

// A Blob service version that Azurite 3.37 accepts; stack.sh also starts it with --skipApiVersionCheck.
const apiVersion = '2021-12-02';
const requestTimeoutMs = 10000;
const contentTypes = new Map([
  ['.json', 'application/json'],
  ['.log', 'text/plain; charset=utf-8'],
]);

function log(message) {
  console.error(`seed-azurite: ${message}`);
}

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is missing or empty`);
  }
  return value;
}

// Returns the fields of an Azure Storage connection string. A value may contain '=' (base64 keys do).
function parseConnectionString(text) {
  const fields = {};
  for (const part of text.split(';')) {
    const separator = part.indexOf('=');
    if (separator > 0) {
      fields[part.slice(0, separator)] = part.slice(separator + 1);
    }
  }
  for (const key of ['AccountName', 'AccountKey', 'BlobEndpoint']) {
    if (!fields[key]) {
      throw new Error(`NHI_AZURE_STORAGE_CONNECTION_STRING has no ${key}`);
    }
  }
  return fields;
}

// Builds the Authorization header value of the Shared Key scheme for the Blob service (versions 2015-02-21 and
// later): an HMAC-SHA256, keyed with the account key, of the verb, the standard headers, the x-ms-* headers and
// the canonicalized resource.
function sharedKeyAuthorization(account, key, method, url, headers) {
  const header = (name) => headers[name] ?? '';
  const contentLength = header('content-length') === '0' ? '' : header('content-length');
  const canonicalHeaders = Object.keys(headers)
    .filter((name) => name.startsWith('x-ms-'))
    .sort()
    .map((name) => `${name}:${String(headers[name]).trim()}\n`)
    .join('');

  // For path-style URLs, such as Azurite's, the path starts with the account name, which the resource repeats.
  let canonicalResource = `/${account}${url.pathname}`;
  const parameters = [...new Set(url.searchParams.keys())].sort();
  for (const name of parameters) {
    canonicalResource += `\n${name.toLowerCase()}:${url.searchParams.getAll(name).sort().join(',')}`;
  }

  const stringToSign = [
    method,
    header('content-encoding'),
    header('content-language'),
    contentLength,
    header('content-md5'),
    header('content-type'),
    '', // Date: x-ms-date is sent instead.
    header('if-modified-since'),
    header('if-match'),
    header('if-none-match'),
    header('if-unmodified-since'),
    header('range'),
  ].join('\n') + '\n' + canonicalHeaders + canonicalResource;

  const signature = createHmac('sha256', Buffer.from(key, 'base64')).update(stringToSign, 'utf8').digest('base64');
  return `SharedKey ${account}:${signature}`;
}

class BlobClient {
  constructor(connectionString) {
    const fields = parseConnectionString(connectionString);
    this.account = fields.AccountName;
    this.key = fields.AccountKey;
    this.endpoint = fields.BlobEndpoint.replace(/\/+$/, '');
  }

  url(container, blobName, query = {}) {
    const blobPath = blobName === undefined ? '' : `/${blobName.split('/').map(encodeURIComponent).join('/')}`;
    const url = new URL(`${this.endpoint}/${encodeURIComponent(container)}${blobPath}`);
    for (const [name, value] of Object.entries(query)) {
      url.searchParams.set(name, value);
    }
    return url;
  }

  // Sends a signed request and returns the response. Throws unless its status is one of EXPECTED.
  async send(method, url, expected, { headers = {}, body } = {}) {
    const allHeaders = {
      'x-ms-date': new Date().toUTCString(),
      'x-ms-version': apiVersion,
      ...headers,
    };
    if (body !== undefined) {
      allHeaders['content-length'] = String(body.length);
    }
    allHeaders.authorization = sharedKeyAuthorization(this.account, this.key, method, url, allHeaders);

    const response = await fetch(url, { method, headers: allHeaders, body, signal: AbortSignal.timeout(requestTimeoutMs) });
    if (!expected.includes(response.status)) {
      const text = await response.text();
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? response.headers.get('x-ms-error-code') ?? 'no error code';
      throw new Error(`${method} ${url.pathname}${url.search} returned HTTP ${response.status} (${code}), expected ${expected.join(' or ')}`);
    }
    return response;
  }

  // Creates CONTAINER without public access. Returns false if it existed already.
  async createContainer(container) {
    const response = await this.send('PUT', this.url(container, undefined, { restype: 'container' }), [201, 409]);
    await response.arrayBuffer();
    return response.status === 201;
  }

  async listBlobNames(container) {
    const names = [];
    let marker = '';
    do {
      const query = { restype: 'container', comp: 'list', maxresults: '1000' };
      if (marker) {
        query.marker = marker;
      }
      const xml = await (await this.send('GET', this.url(container, undefined, query), [200])).text();
      for (const match of xml.matchAll(/<Blob>\s*<Name>([^<]*)<\/Name>/g)) {
        names.push(decodeXml(match[1]));
      }
      marker = decodeXml(/<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)?.[1] ?? '');
    } while (marker);
    return names;
  }

  async putBlob(container, blobName, content, contentType) {
    const headers = {
      'content-type': contentType,
      // The service checks the upload against this digest and rejects a corrupted body.
      'content-md5': createHash('md5').update(content).digest('base64'),
      'x-ms-blob-type': 'BlockBlob',
    };
    const response = await this.send('PUT', this.url(container, blobName), [201], { headers, body: content });
    await response.arrayBuffer();
  }

  async deleteBlob(container, blobName) {
    const response = await this.send('DELETE', this.url(container, blobName), [202], { headers: { 'x-ms-delete-snapshots': 'include' } });
    await response.arrayBuffer();
  }
}

function decodeXml(text) {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

// Returns the paths of the files below FOLDER, relative to it and with '/' separators, sorted.
async function listFiles(folder) {
  let entries;
  try {
    entries = await readdir(folder, { recursive: true, withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOENT') {
      throw new Error(`the fixture folder ${folder} does not exist`);
    }
    throw error;
  }
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath ?? entry.path, entry.name)).split(path.sep).join('/'))
    .sort();
}

async function resetContainer(client, container, folder) {
  const files = await listFiles(folder);
  if (files.length === 0) {
    throw new Error(`${folder} contains no fixture files for container ${container}`);
  }
  const created = await client.createContainer(container);

  for (const name of files) {
    const contentType = contentTypes.get(path.extname(name));
    if (!contentType) {
      throw new Error(`${path.join(folder, name)} has an extension without a content type; use one of ${[...contentTypes.keys()].join(', ')}`);
    }
    await client.putBlob(container, name, await readFile(path.join(folder, name)), contentType);
  }

  const deleted = [];
  for (const name of await client.listBlobNames(container)) {
    if (!files.includes(name)) {
      await client.deleteBlob(container, name);
      deleted.push(name);
    }
  }
  const deletedNote = deleted.length ? `, deleted ${deleted.length} blob(s) that are not fixture files: ${deleted.join(', ')}` : '';
  log(`container ${container}${created ? ' created' : ''}: uploaded ${files.length} blob(s)${deletedNote}`);
}

async function main() {
  const client = new BlobClient(requireEnv('NHI_AZURE_STORAGE_CONNECTION_STRING'));
  const fixturesDir = requireEnv('NHI_BLOB_FIXTURES_DIR');
  const containers = requireEnv('NHI_BLOB_CONTAINERS').split(',').filter(Boolean);
  for (const container of containers) {
    await resetContainer(client, container, path.join(fixturesDir, container));
  }
}

try {
  await main();
} catch (error) {
  log(`error: ${error.message}`);
  process.exit(1);
}
