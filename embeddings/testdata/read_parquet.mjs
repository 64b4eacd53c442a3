// Reads a Parquet file with hyparquet, a JavaScript reader independent of parquet-go, and prints
// its rows and key-value metadata as JSON: the interoperability check of embeddings.WriteParquet.
//   node read_parquet.mjs HYPARQUET_PACKAGE_DIR FILE.parquet
import fs from 'node:fs'
import path from 'node:path'
import url from 'node:url'

const [pkg, file] = process.argv.slice(2)
const { parquetReadObjects, parquetMetadata } = await import(url.pathToFileURL(path.join(pkg, 'src', 'index.js')).href)
const buf = fs.readFileSync(file)
const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
const rows = await parquetReadObjects({ file: ab })
const meta = parquetMetadata(ab)
process.stdout.write(JSON.stringify({
  rows,
  metadata: meta.key_value_metadata || [],
  schema: meta.schema.map(s => ({ name: s.name, type: s.type, repetition: s.repetition_type })),
}))
