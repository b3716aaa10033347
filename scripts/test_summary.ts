/**
 * Reads the JUnit XML files of one test run (Deno, Node, Bun) and prints one count per
 * runtime, then the line CI reads: `N passed, N failed, N skipped`. Exits 1 when a test
 * failed, when a runtime left no complete report, when a runtime exited non-zero although
 * its report shows no failure (an error thrown while loading a file or after its last test
 * is not a testcase), or when no test ran.
 *
 * usage: deno run -A scripts/test_summary.ts <runtime>=<file.xml>[:<exit code>] ...
 */
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

function unescape(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'").replace(/&amp;/g, "&");
}

function count(xml: string): Counts {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  // A testcase is either self-closing or spans to its </testcase>. Attribute values are
  // matched as quoted strings: Node leaves `>` unescaped inside them.
  const cases = xml.matchAll(
    /<testcase\b((?:[^>"/]|"[^"]*"|\/(?!>))*)(\/>|>([\s\S]*?)<\/testcase>)/g,
  );
  for (const [, attributes, , body = ""] of cases) {
    const name = unescape(/\bname="([^"]*)"/.exec(attributes)?.[1] ?? "?");
    if (/<(failure|error)\b/.test(body) || /\bfailure="/.test(attributes)) {
      counts.failed++;
      counts.failures.push(name);
    } else if (/<skipped\b/.test(body)) {
      counts.skipped++;
    } else {
      counts.passed++;
    }
  }
  return counts;
}

const total: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
for (const argument of process.argv.slice(2)) {
  const [runtime, report] = argument.split("=");
  const [file, exitCode = "0"] = report.split(":");
  let counts: Counts;
  if (!existsSync(file)) {
    counts = {
      passed: 0,
      failed: 1,
      skipped: 0,
      failures: [`${runtime} produced no test report (${file}; exit code ${exitCode})`],
    };
  } else {
    const xml = readFileSync(file, "utf8");
    counts = count(xml);
    if (counts.passed + counts.failed === 0) {
      counts.failed++;
      counts.failures.push(`${runtime} ran no tests`);
    }
    if (!/<\/testsuites>\s*$/.test(xml)) {
      // Node writes its report as it goes: a run killed half way leaves only the passes.
      counts.failed++;
      counts.failures.push(`${runtime} left an unfinished report (exit code ${exitCode})`);
    } else if (exitCode !== "0" && counts.failed === 0) {
      counts.failed++;
      counts.failures.push(
        `${runtime} exited with code ${exitCode} outside any test (see its output above)`,
      );
    }
  }
  console.log(
    `${runtime}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`,
  );
  for (const failure of counts.failures) console.log(`  FAILED [${runtime}] ${failure}`);
  total.passed += counts.passed;
  total.failed += counts.failed;
  total.skipped += counts.skipped;
}
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 || total.passed === 0 ? 1 : 0);
