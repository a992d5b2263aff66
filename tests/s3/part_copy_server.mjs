// A second S3-compatible server for the tests: @20minutes/s3rver (npm), a maintained fork of
// s3rver that implements UploadPartCopy (multipart server-side copies), which s3rver 3.7.1
// answers with 501. The fork ships no command line, so this starts it:
//
//   node part_copy_server.mjs --dir DATA_DIR --bucket NAME
//
// on 127.0.0.1 and a free port, and prints "listening on 127.0.0.1:PORT" once it listens.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('@20minutes/s3rver');

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`usage: node part_copy_server.mjs --dir DATA_DIR --bucket NAME (missing --${name})`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: arg('dir'),
  configureBuckets: [{ name: arg('bucket') }],
});
const { address, port } = await server.run();
console.log(`listening on ${address}:${port}`);
