// Prompts for speculative decoding (bench/speculative.ts, test/model/speculative.test.ts).
// copyHeavy: the model rewrites a function that is in its prompt (prompt lookup can predict it);
// novel: a continuation that is not in the prompt.

const FUNCTION_LINES = [
  "def summarize_orders(orders, customers, threshold):",
  "    totals = {}",
  "    counts = {}",
  "    for order in orders:",
  "        cid = order['customer_id']",
  "        amount = order['amount']",
  "        if amount <= 0:",
  "            continue",
  "        if cid not in totals:",
  "            totals[cid] = 0",
  "            counts[cid] = 0",
  "        totals[cid] += amount",
  "        counts[cid] += 1",
  "    result = []",
  "    for cid in totals:",
  "        customer = customers.get(cid)",
  "        if customer is None:",
  "            continue",
  "        average = totals[cid] / counts[cid]",
  "        if totals[cid] < threshold:",
  "            continue",
  "        entry = {",
  "            'name': customer['name'],",
  "            'email': customer['email'],",
  "            'total': totals[cid],",
  "            'count': counts[cid],",
  "            'average': average,",
  "        }",
  "        result.append(entry)",
  "    result.sort(key=lambda e: e['total'], reverse=True)",
  "    return result",
  "",
  "",
  "def format_report(entries, currency):",
  "    lines = []",
  "    for index, entry in enumerate(entries):",
  "        name = entry['name']",
  "        total = entry['total']",
  "        count = entry['count']",
  "        average = entry['average']",
  "        line = f'{index + 1}. {name}: {total:.2f} {currency}'",
  "        line += f' over {count} orders'",
  "        line += f' (average {average:.2f} {currency})'",
  "        lines.append(line)",
  "    if not lines:",
  "        lines.append('No customer reached the threshold.')",
  "    header = 'Top customers'",
  "    underline = '=' * len(header)",
  "    return '\\n'.join([header, underline] + lines)",
  "",
  "",
  "def main(orders, customers):",
  "    entries = summarize_orders(orders, customers, 100)",
  "    report = format_report(entries, 'EUR')",
  "    print(report)",
  "    return len(entries)",
];

export const COPY_HEAVY_LINES = FUNCTION_LINES.length;

/** A Python module (up to ~55 lines), the instruction to rewrite it, and the start of the rewrite. */
export function copyHeavyPrompt(lines = FUNCTION_LINES.length): string {
  const source = FUNCTION_LINES.slice(0, lines).join("\n");
  return (
    "# Original code:\n" +
    source +
    "\n\n# The same code, rewritten with type hints and clearer variable names:\n" +
    "from typing import Any\n\n\n" +
    "def summarize_orders(orders: list[dict[str, Any]], customers: dict[int, dict[str, Any]], threshold: float) -> list[dict[str, Any]]:\n"
  );
}

/** A prompt whose continuation is not in it. */
export function novelPrompt(): string {
  return (
    "import math\n\n\n" +
    "class Matrix:\n" +
    '    """A small dense matrix of floats with the usual operations."""\n\n' +
    "    def __init__(self, rows, cols):\n"
  );
}
