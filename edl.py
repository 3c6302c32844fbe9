import time, edlib
from bioscan_hf.data.prepared import load_prepared
d = load_prepared('/tmp/idwork/dataset','metadata')
k = d['train']['dna_barcode'][:]; q = d['test_unseen']['dna_barcode'][:]
t=time.perf_counter(); n=0
for i in range(200):
    for j in range(50):
        edlib.align(q[i], k[j*10], mode='HW', task='distance'); n+=1
print((time.perf_counter()-t)/n*1e6, 'us per unrelated alignment')
t=time.perf_counter()
for i in range(2000):
    edlib.align(k[i], k[i+1], mode='HW', task='distance', k=60)
print((time.perf_counter()-t)/2000*1e6, 'us per k-limited')
