import sys, pickle
sys.path.insert(0, '/work/main')
import psycopg
from bench.tpch import advisor as A
from prodready.advisor.engine import advise
d = pickle.load(open('/tmp/scratch/demo.pkl','rb'))
qs = A.from_sql_file(__import__('pathlib').Path('/tmp/scratch/demo_workload.sql'))
with psycopg.connect(d["dsn"], autocommit=True) as conn:
    bound, skipped = A.bind(conn, qs)
    b = [x for x in bound if 'tsquery' in x.sql]
    print(b[0].query.calls, b[0].sql)
    r = advise(conn, bound, skipped=skipped)
    print(r.workload_cost_before, r.workload_cost_after)
    r2 = advise(conn, b)
    print([(i.definition, i.confidence) for i in r2.indexes], r2.workload_cost_before)
