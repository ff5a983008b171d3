"""Writing a benchmark's rows: bench/results/<name>.csv and a markdown table <name>.md headed by the command."""
import csv
import os
import sys


def markdown(rows, keys=None):
    keys = keys or list(rows[0])
    return '\n'.join(['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)] +
                     ['| ' + ' | '.join(str(r[k]) for k in keys) + ' |' for r in rows])


def write(out, name, rows, note=''):
    """Save rows (a list of dicts with the same keys) and return the markdown table."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f'{name}.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table = markdown(rows)
    with open(os.path.join(out, f'{name}.md'), 'w') as f:
        f.write(f"`python bench/{name}.py {' '.join(sys.argv[1:])}`{note}\n\n{table}\n")
    return table
