// The independent reader of the copy tests (s3_copy_test.cc): reads one object with the AWS
// SDK (@aws-sdk/client-s3), not with framepair's client, and prints "<size> <sha256 hex>".
//
//   node object_digest.mjs --endpoint http://127.0.0.1:PORT --bucket NAME --key KEY
//
// Credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; exits 1 naming the S3 error.
import crypto from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`usage: node object_digest.mjs --endpoint URL --bucket NAME --key KEY (missing --${name})`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const s3 = new S3Client({
  endpoint: arg('endpoint'), region: 'us-east-1', forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
});
try {
  const got = await s3.send(new GetObjectCommand({ Bucket: arg('bucket'), Key: arg('key') }));
  const bytes = Buffer.from(await got.Body.transformToByteArray());
  console.log(`${bytes.length} ${crypto.createHash('sha256').update(bytes).digest('hex')}`);
} catch (e) {
  console.error(`object_digest: ${e.name}: ${e.message}`);
  process.exit(1);
}
