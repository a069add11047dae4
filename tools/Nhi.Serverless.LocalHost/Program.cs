using Nhi.Serverless.Hosting;

// The local host: the HTTP API, the Durable Task worker and client, and the gRPC sidecar in one process.
// Binds 127.0.0.1:7071 unless --urls sets other URLs, and HTTPS on 127.0.0.1:7443 unless Https:Port sets another port.
await using WebApplication app = await NhiLocalHost.BuildAsync(args);
await app.RunAsync();
