"""scripts/demo_report.py: the demo's two pictures, read from the views.

    python3 scripts/demo_report.py shares   # a bar per segment: its share of users
    python3 scripts/demo_report.py lift     # a forest plot of checkout_v2's lift per segment

Connects through the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE),
as scripts/demo.sh sets it.
"""
import sys

import psycopg2

BAR = 50            # characters for 100% of the users
PLOT = 41           # characters of the forest plot's axis
EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction, width):
    """A text bar of fraction * width characters, to the eighth of one."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    return "█" * (eighths // 8) + (EIGHTHS[eighths % 8] if eighths % 8 else "")


def shares(cur):
    # as the dashboard's role sees it: small segments suppressed (min_cell_size)
    cur.execute("SET ROLE segmentation_reader")
    cur.execute("""SELECT scheme, segment, users, share, suppressed FROM segmentation.segment_summary
                   ORDER BY scheme, suppressed, users DESC, segment""")
    rows = cur.fetchall()
    cur.execute("RESET ROLE")
    width = max(len(r[1]) for r in rows)
    print("== segment shares as segmentation_reader (a dashboard) reads segmentation.segment_summary,")
    print("   one bar per segment, full width = 100% of users; small segments are suppressed (min_cell_size)")
    scheme = None
    for s, segment, users, share, suppressed in rows:
        if s != scheme:
            scheme = s
            # (the scheme's total is known from any shown segment: users / share)
            shown = [r for r in rows if r[0] == s and not r[4]]
            total = f"{round(shown[0][2] / shown[0][3]):,} users" if shown else "every segment suppressed"
            print(f"{s} ({total})")
        if suppressed:
            print(f"  {segment:<{width}}  {'(suppressed: too few users, or would reveal one that is)':<{BAR + 16}}")
        else:
            print(f"  {segment:<{width}}  {bar(share, BAR):<{BAR}} {100 * share:5.1f}%  {users:>7,}")
    print()


def lift(cur):
    cur.execute("""SELECT segment, users, abs_lift, abs_lift_ci_low, abs_lift_ci_high, q_value, srm_flag
                   FROM segmentation.experiment_lift
                   WHERE experiment = 'checkout_v2' AND scheme = 'lifecycle' AND variant = 'treatment'
                     AND abs_lift IS NOT NULL
                   ORDER BY segment = '(all)' DESC, segment""")
    rows = cur.fetchall()
    if not rows:
        print("== checkout_v2: no lift to plot yet")
        return
    # a symmetric axis around 0 that holds every interval, in percentage points
    reach = max(max(abs(r[3]), abs(r[4])) for r in rows) * 100 or 1.0

    def col(x):
        return round((x * 100 + reach) / (2 * reach) * (PLOT - 1))

    width = max(len(r[0]) for r in rows)
    print("== checkout_v2: lift in conversion, treatment minus control, per lifecycle segment at assignment")
    print(f"   ● the estimate, ├──┤ its 95% interval, │ no effect; * q < 0.05 (segments adjusted together)")
    label = f"-{reach:.1f} pp"
    right = f"+{reach:.1f} pp"
    axis = label + " " * (PLOT // 2 - len(label)) + "0" + " " * (PLOT - PLOT // 2 - 1 - len(right)) + right
    print(f"  {'':<{width}}  {axis}")
    zero = col(0)
    for segment, users, est, lo, hi, q, srm in rows:
        line = [" "] * PLOT
        a, b = col(lo), col(hi)
        for i in range(a, b + 1):
            line[i] = "─"
        line[zero] = "┼" if a < zero < b else "│"
        line[a], line[b] = "├", "┤"
        line[col(est)] = "●"
        note = f"{100 * est:+5.1f} pp [{100 * lo:+.1f}, {100 * hi:+.1f}]"
        if q is not None:
            note += (f"  q {q:.3f}" if q >= 0.001 else "  q < 0.001") + (" *" if q < 0.05 else "")
        if srm:
            note += "  SRM: do not trust"
        print(f"  {segment:<{width}}  {''.join(line)}  {note}")
    print()


def main():
    what = sys.argv[1:] or ["shares", "lift"]
    conn = psycopg2.connect("")
    cur = conn.cursor()
    for w in what:
        {"shares": shares, "lift": lift}[w](cur)
    sys.stdout.flush()
    conn.close()


if __name__ == "__main__":
    main()
