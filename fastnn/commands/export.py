"""``fastnn export``: write a saved model as an ONNX file (checked with onnx.checker).

``--checkpoint`` is a model file or the output folder of ``fastnn train``.  The
exported graph is the network alone, in eval mode (dropout removed, batch norm
with its running statistics): apply the model's preprocessing before feeding
it (``fastnn.load(path).preprocessor.transform(X)``).  Needs
``pip install fastnn[onnx]``.
"""
from fastnn.commands import CommandError
from fastnn.commands.predict import load_checkpoint

HELP = "export a saved model to ONNX (run it with ONNX Runtime)"


def add_arguments(p):
    p.add_argument("--checkpoint", required=True, metavar="FILE|DIR",
                   help="model file, or the output folder of fastnn train")
    p.add_argument("--output", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset (default: the lowest the layers need: 17, 20 or 21)")
    p.add_argument("--input-shape", default=None, metavar="C,H,W",
                   help="one sample's shape (default: the one stored with the model)")


def run(args):
    from fastnn import onnx as fonnx
    shape = None
    if args.input_shape is not None:
        try:
            shape = tuple(int(v) for v in args.input_shape.split(","))
        except ValueError:
            raise CommandError(f"--input-shape must be a comma list of integers, "
                               f"got {args.input_shape!r}") from None
    model, _ = load_checkpoint(args.checkpoint)
    try:
        path = fonnx.export(model, args.output, input_shape=shape, opset=args.opset)
    except ImportError as exc:
        raise CommandError(str(exc)) from None
    opset = args.opset or fonnx.required_opset(model)
    print(f"wrote {path} (opset {opset}, input (N, {', '.join(map(str, shape or model.input_shape))}))")
    return 0
