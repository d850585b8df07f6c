// Validate glTF/GLB files with the Khronos glTF Validator; print one JSON object: path -> issue
// counts and the first messages. Usage: node validate.js FILE...
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

async function validate(file) {
  const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {
    uri: path.basename(file),
    maxIssues: 50,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)), (error, data) =>
          error ? reject(error.toString()) : resolve(new Uint8Array(data)));
      }),
  });
  const issues = report.issues;
  return {
    errors: issues.numErrors, warnings: issues.numWarnings, infos: issues.numInfos, hints: issues.numHints,
    messages: issues.messages.filter((m) => m.severity <= 1).map((m) => `${m.code} ${m.pointer || ""}: ${m.message}`),
  };
}

(async () => {
  const results = {};
  for (const file of process.argv.slice(2)) {
    try {
      results[file] = await validate(file);
    } catch (error) {  // not glTF at all: the validator refuses to start
      results[file] = { errors: 1, warnings: 0, infos: 0, hints: 0, messages: [String(error)] };
    }
  }
  process.stdout.write(JSON.stringify(results));
})().catch((error) => { console.error(String(error)); process.exit(2); });
