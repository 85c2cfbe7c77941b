# Loads a `hiero export --format official` checkpoint strictly into the official HRM code (a clone of sapientinc/HRM)
# and prints its logits and Q values per segment as JSON, for bench/official-hrm.ts to compare with Hiero's.
#   /usr/bin/python3 bench/official/check_hrm.py HRM_CLONE EXPORT_DIR INPUTS_JSON > official.json
# Runs on a CPU with PyTorch >= 1.13 through shims that do none of the model's arithmetic: flash-attn (CUDA only) is
# replaced by the same softmax attention written out, nn.Buffer (PyTorch >= 2.5) by register_buffer, and on PyTorch
# < 2 the training-only optimiser's decorator and type names. forward_dtype must be float32 (export with
# --dtype float32) for a comparison to f32 precision.
import json, math, os, sys, types
import torch, yaml

clone, export_dir, inputs_path = sys.argv[1:4]

if not hasattr(torch.nn, 'Buffer'):
    class Buffer:
        def __init__(self, data, persistent=True):
            self.data, self.persistent = data, persistent
    torch.nn.Buffer = Buffer
    plain_setattr = torch.nn.Module.__setattr__
    def setattr_with_buffers(module, name, value):
        if isinstance(value, Buffer): module.register_buffer(name, value.data, persistent=value.persistent)
        else: plain_setattr(module, name, value)
    torch.nn.Module.__setattr__ = setattr_with_buffers
# Older PyTorch: the sparse-embedding optimiser (training only) is defined with names it lacks.
import torch.optim.optimizer as optimizer
if not hasattr(optimizer, 'ParamsT'): optimizer.ParamsT = object
if tuple(int(p) for p in torch.__version__.split('.')[:2]) < (2, 0):
    plain_no_grad = torch.no_grad
    class no_grad_as_decorator(plain_no_grad):
        def __new__(cls, fn=None):
            return plain_no_grad()(fn) if callable(fn) else super().__new__(cls)
        def __init__(self, fn=None):
            super().__init__()
    torch.no_grad = no_grad_as_decorator

def attention(q, k, v, causal=False):
    # q, k, v: [batch, seq, heads, head_dim], as flash_attn_func takes them.
    scores = torch.einsum('bshd,bthd->bhst', q, k) / math.sqrt(q.shape[-1])
    if causal: scores = scores.masked_fill(torch.ones(scores.shape[-2:], dtype=torch.bool).triu(1), float('-inf'))
    return torch.einsum('bhst,bthd->bshd', torch.softmax(scores, -1), v).contiguous()
shim = types.ModuleType('flash_attn_interface')
shim.flash_attn_func = attention
sys.modules['flash_attn_interface'] = shim

sys.path.insert(0, clone)
from models.hrm.hrm_act_v1 import HierarchicalReasoningModel_ACTV1

config = yaml.safe_load(open(os.path.join(export_dir, 'all_config.yaml')))
dataset = json.load(open(os.path.join(export_dir, 'dataset.json')))
arch = {k: v for k, v in config['arch'].items() if k not in ('name', 'loss')}
if arch.get('forward_dtype') != 'float32': sys.exit('export with --dtype float32 for this comparison')
request = json.load(open(inputs_path))
batch_size = len(request['inputs'])
model = HierarchicalReasoningModel_ACTV1(dict(**arch, batch_size=batch_size, seq_len=dataset['seq_len'], vocab_size=dataset['vocab_size'],
                                              num_puzzle_identifiers=dataset['num_puzzle_identifiers'], causal=False))
step = [n for n in os.listdir(export_dir) if n.startswith('step_')][0]
state = torch.load(os.path.join(export_dir, step), map_location='cpu')
prefix = '_orig_mod.model.' if any(k.startswith('_orig_mod.') for k in state) else 'model.'
model.load_state_dict({k[len(prefix):]: v for k, v in state.items()}, strict=True)
model.eval()
batch = {'inputs': torch.tensor(request['inputs'], dtype=torch.int32), 'labels': torch.zeros(batch_size, dataset['seq_len'], dtype=torch.int32),
         # int32 as the official loader makes them; PyTorch < 2 indexes with int64 only.
         'puzzle_identifiers': torch.zeros(batch_size, dtype=torch.int32 if torch.__version__ >= '2' else torch.long)}
out = {'segments': []}
with torch.no_grad():
    carry = model.initial_carry(batch)
    for _ in range(request['segments']):
        carry, o = model(carry, batch)
        out['segments'].append({'logits': o['logits'].flatten().tolist(), 'qHalt': o['q_halt_logits'].tolist(), 'qContinue': o['q_continue_logits'].tolist()})
json.dump(out, sys.stdout)
