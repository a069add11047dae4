using Nhi.Serverless.Hosting;

// The local host: the HTTP API, the Durable Task worker and client, and the gRPC sidecar in one process.
// Binds 127.0.0.1:7071 unless --urls says otherwise.
await using WebApplication app = await NhiLocalHost.BuildAsync(args);
await app.RunAsync();
