"""Run vLLM's real benchmark client (`vllm bench serve`, vllm.benchmarks.serve) without torch:
register bare packages for vllm's package __init__ files that import torch, with their real
__path__, so that only the modules the client needs are loaded."""
import importlib.util, os, sys, types
root = os.path.dirname(importlib.util.find_spec("vllm").origin)
def bare(name, path):
    m = types.ModuleType(name); m.__path__ = [path]; m.__package__ = name
    sys.modules[name] = m; return m
bare("vllm", root)
for sub in ["multimodal", "lora", "distributed", "config"] + os.environ.get("BARE", "").split():
    bare("vllm." + sub, os.path.join(root, *sub.split(".")))
# torch (and the GPU libraries) are never used by the client's code paths used here (an
# OpenAI-compatible endpoint, the random dataset, a Hugging Face tokenizer), only imported by
# modules it imports: stand in a mock for them.
import importlib.abc, importlib.machinery
STUBBED = ("torch", "torchvision", "torchaudio", "triton", "cv2")
# vLLM modules the client imports only for LoRA and multimodal datasets, which pull in the
# engine (config, distributed, model executor) at import time.
STUBBED_VLLM = {"vllm.lora.utils", "vllm.lora.request", "vllm.multimodal.audio",
                "vllm.multimodal.image", "vllm.multimodal.utils", "vllm.inputs",
                "vllm.distributed.parallel_state"}
STUBBED_VLLM.update(os.environ.get("STUB", "").split())
class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Meta(name, (Dummy,), {})
    def __call__(cls, *a, **k):
        if len(a) == 1 and callable(a[0]) and not k and not isinstance(a[0], _Meta):
            return a[0]  # used as a decorator: keep the function
        return super().__call__(*a, **k)
    def __getitem__(cls, item):
        return cls
class Dummy(metaclass=_Meta):
    """Anything: called, indexed, looked into, compared, iterated (as nothing)."""
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k):
        if len(a) == 1 and callable(a[0]) and not k:
            return a[0]  # used as a decorator: keep the function
        return Dummy()
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Dummy()
    def __getitem__(self, k): return Dummy()
    def __iter__(self): return iter(())
    def __bool__(self): return False
    def __lt__(self, o): return False
    __le__ = __gt__ = __ge__ = __lt__
    def __or__(self, o): return self
    __ror__ = __or__
    def __mro_entries__(self, bases): return (object,)
class StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        cls = _Meta(name, (Dummy,), {})
        setattr(self, name, cls)
        return cls
class Stub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STUBBED or name in STUBBED_VLLM:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
    def create_module(self, spec):
        m = StubModule(spec.name); m.__path__ = []; m.__spec__ = spec
        m.__version__ = "2.14.0"
        return m
    def exec_module(self, module):
        pass
# transformers decides once whether torch is there: ask it before the stand-in exists, so that
# it uses its tokenizers only.
import transformers.utils.import_utils as tiu
assert not tiu.is_torch_available()
sys.meta_path.insert(0, Stub())
from vllm.benchmarks.serve import main, add_cli_args
import argparse
if __name__ == "__main__":
    p = argparse.ArgumentParser()
    add_cli_args(p)
    main(p.parse_args())
