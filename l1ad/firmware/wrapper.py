"""The Verilog trigger wrapper around the da4ml network (ports and timing per the team contract).

in_data = the concatenated input words (word 0 at the LSBs, each ``width`` bits, two's complement when signed)
-> rewired to the network's input bus -> pipelined network (preprocessing, layers, score) -> the raw score is
reassembled from its chunks -> registered ``score`` and ``trigger = score > threshold`` (threshold is a port,
compared in the score's signedness on the cycle the score leaves the network). ``out_valid`` follows ``in_valid``
through a shift register of the network's latency plus the output register; ``rst`` is synchronous, active high.
``score`` is 0 on cycles without ``out_valid`` (a synchronous reset of the output register by the valid bit, free
in the flip-flops): the network's pipeline registers have no reset, so whatever sat in them before the reset -- X
in a four-state simulator -- never reaches an output.
"""

from __future__ import annotations

from l1ad.fixedpoint.precision import InputField, Precision

__all__ = ["wrapper_verilog"]


def _compress(bits: list[str]) -> str:
    """Concatenation of single-bit expressions (LSB first) with runs of ``sig[n]`` merged into ranges."""
    parts: list[str] = []  # MSB first
    i = len(bits) - 1
    while i >= 0:
        b = bits[i]
        if "[" in b and b.endswith("]") and b.split("[")[1][:-1].isdigit():
            sig, idx = b.split("[")[0], int(b.split("[")[1][:-1])
            j = i
            while j - 1 >= 0 and bits[j - 1] == f"{sig}[{idx - (i - j) - 1}]":
                j -= 1
            lo = idx - (i - j)
            parts.append(f"{sig}[{idx}:{lo}]" if idx != lo else b)
            i = j - 1
        else:
            j = i
            while j - 1 >= 0 and bits[j - 1] == b:
                j -= 1
            n = i - j + 1
            parts.append(b if n == 1 else f"{{{n}{{{b}}}}}")
            i = j - 1
    return parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"


def wrapper_verilog(
    top: str,
    net_module: str,
    inputs: list[InputField],
    in_kifs: list[tuple[int, int, int]],
    out_kifs: list[tuple[int, int, int]],
    chunk_bits: int,
    score: Precision,
    net_latency: int,
) -> str:
    in_width = sum(f.width for f in inputs)
    lines: list[str] = []
    # ---- input rewiring
    net_bits: list[str] = []
    off = 0
    for f, (k, i, fr) in zip(inputs, in_kifs, strict=False):
        nw = k + i + fr
        for b in range(max(nw, 0)):
            p = b - fr  # bit of the word
            if p < 0:
                net_bits.append("1'b0")
            elif p < f.width:
                net_bits.append(f"in_data[{off + p}]")
            else:
                net_bits.append(f"in_data[{off + f.width - 1}]" if f.signed else "1'b0")
        off += f.width
    net_in_w = max(len(net_bits), 1)
    # ---- score reassembly from the chunks
    sw = score.width
    out_offs, pos = [], 0
    for k, i, fr in out_kifs:
        out_offs.append(pos)
        pos += k + i + fr
    net_out_w = max(pos, 1)
    sbits: list[str] = []
    n_chunks = len(out_kifs)
    for c, ((k, i, fr), o) in enumerate(zip(out_kifs, out_offs, strict=False)):
        nw = k + i + fr
        if fr > 0:
            raise ValueError(f"network output {c} has {fr} fraction bits; expected an integer chunk")
        lo = chunk_bits * c
        hi = sw if c == n_chunks - 1 else min(sw, lo + chunk_bits)
        for sbit in range(lo, hi):
            p = sbit - lo + fr  # bit of the raw chunk (fr <= 0: known-zero LSBs)
            if p < 0 or nw <= 0:
                sbits.append("1'b0")
            elif p < nw:
                sbits.append(f"net_out[{o + p}]")
            else:
                sbits.append(f"net_out[{o + nw - 1}]" if k else "1'b0")
    cmp = "$signed(score_w) > $signed(threshold)" if score.signed else "score_w > threshold"
    lat = net_latency
    shift = "in_valid" if lat == 1 else f"{{valid_pipe[{lat - 2}:0], in_valid}}"
    lines += [
        "`timescale 1ns / 1ps",
        f"// {top}: l1ad trigger wrapper (generated; see design.json). Latency {lat + 1} cycles, II=1.",
        f"// score: {score.ap_type()} raw integer; trigger = score > threshold, registered with score.",
        f"module {top} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire in_valid,",
        f"    input  wire [{in_width - 1}:0] in_data,",
        f"    input  wire [{sw - 1}:0] threshold,",
        "    output reg  out_valid,",
        f"    output reg  [{sw - 1}:0] score,",
        "    output reg  trigger",
        ");",
        f"    wire [{net_in_w - 1}:0] net_in;",
        f"    wire [{net_out_w - 1}:0] net_out;",
        f"    wire [{sw - 1}:0] score_w;",
        f"    reg  [{lat - 1}:0] valid_pipe;",
        "",
        "    // input words -> network input bus (word j = in_data[sum(width[<j]) +: width[j]])",
        f"    assign net_in = {_compress(net_bits) if net_bits else chr(39) + 'b0'};",
        f"    {net_module} u_net (.clk(clk), .model_inp(net_in), .model_out(net_out));",
        "    // raw score from the network's chunk outputs",
        f"    assign score_w = {_compress(sbits)};",
        "",
        "    always @(posedge clk) begin",
        "        if (rst) begin",
        f"            valid_pipe <= {lat}'b0;",
        "            out_valid  <= 1'b0;",
        f"            score      <= {sw}'b0;",
        "            trigger    <= 1'b0;",
        "        end else begin",
        f"            valid_pipe <= {shift};",
        f"            out_valid  <= valid_pipe[{lat - 1}];",
        f"            score      <= valid_pipe[{lat - 1}] ? score_w : {sw}'b0;",
        f"            trigger    <= valid_pipe[{lat - 1}] & ({cmp});",
        "        end",
        "    end",
        "endmodule",
        "",
    ]
    return "\n".join(lines)
