#!/usr/bin/env python3
"""Compares rptq-tokenize with Hugging Face's GPT2TokenizerFast (transformers 4.38).

For the OPT tokenizer files (</s> and <pad> special, BOS </s>) and the GPT-2 ones
(<|endoftext|> special and BOS), on:
  * the whole WikiText-2 test file;
  * an adversarial list (scripts, combining marks, emoji, whitespace runs, contractions, digits,
    invalid UTF-8, special tokens inside text, empty string, very long words, random fuzz);
  * a sweep over the code points of Unicode planes 0-3 and 14 (checks the \\p{L}/\\p{N}/\\s tables);
  * decode: our bytes of HF's ids (after bytes.decode('utf-8', 'replace')) against HF's decode, and
    exact round trips of valid UTF-8 text, plus random id sequences that cut multi-byte characters.

The oracle: ids = [bos] + tok(text, add_special_tokens=False).input_ids, where text is the input
bytes decoded with errors='replace'. Prints PASS/FAIL per case and ends with "N passed, M failed";
exits non-zero on any failure.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time


def adversarial_cases():
    c = []

    def add(name, text):
        c.append((name, text.encode("utf-8") if isinstance(text, str) else text))

    add("empty", "")
    add("ascii", "Hello world")
    add("one_space", " ")
    add("one_newline", "\n")
    add("spaces_only", "     ")
    add("leading_spaces", "  two leading spaces")
    add("leading_space", " leading space")
    add("trailing_space", "trailing space ")
    add("trailing_spaces", "trailing spaces    ")
    add("middle_spaces", "a  b   c    d")
    add("tabs", "\t\ttabs\tin\t\tthe\tmiddle\t")
    add("newlines", "\n\nnew\nlines\n\n\nhere\n\n")
    add("crlf_mixed", "mixed \t\n \r\n end \n ")
    add("space_before_newline", "line one  \n  line two \n\t")
    add("nbsp", "\u00a0NBSP\u00a0 \u00a0x\u00a0\u00a0y \u00a0")
    add("ideographic_space", "\u3000ideographic\u3000space\u3000\u3000end\u3000")
    add("unicode_spaces", "a\u2028b\u2029c\u0085d\u2000e\u200af\u202fg\u205fh\u1680i")
    add("space_then_unicode_space", "x \u3000y \u00a0 z  \u2003")
    add("not_spaces", "zero\u200bwidth \u200b x\u180ey \x1c\x1d\x1e\x1f seps \ufeffbom")
    add("vt_ff", "\x0b\x0cvt ff\x0b \x0c")
    add("controls", "\x00\x01\x02 nul \x7f del \x1b[31mred\x1b[0m")
    add("contractions", "it's they're we've I'm you'll he'd can't")
    add("contractions_upper", "IT'S THEY'RE WE'VE I'M 'S 'T 'Re 'rE 'LL")
    add("apostrophes", "''s '' 's ' s 'x '' 'll'll 're're")
    add("contraction_after_space", "don't stop 's' ' 's  'd")
    add("curly_apostrophe", "it\u2019s John\u2019s \u2018quoted\u2019")
    add("digits", "1234567890 12 3.14159 1,000,000 2024-01-02 0x1F")
    add("unicode_digits", "\u0663\u0664\u0665 \u00bd \u216b \u00b2\u00b3 \u0966\u0967 \uff11\uff12 \U0001d7d8")
    add("long_digits", "9" * 1000 + " " + "1234567890" * 50)
    add("greek", "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5")
    add("cyrillic", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u0436\u0438\u043a")
    add("arabic_rtl", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0661\u0662\u0663")
    add("hebrew_rtl", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd \u05b8\u05bc\u05d1")
    add("rtl_marks", "\u200fRTL\u200e mark \u202eoverride\u202c \u2067iso\u2069")
    add("hindi_combining", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e")
    add("thai", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01")
    add("korean", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4 \u1100\u1161\u11a8")
    add("japanese", "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3001\u30ab\u30bf\u30ab\u30ca\uff01\uff71")
    add("chinese", "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\u3002 \U00020000\U0002a6d6")
    add("other_scripts", "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd \u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8 "
                         "\u0540\u0561\u0575 \u12a0\u121b\u122d\u129b \u182e\u1823\u1829 \u0f56\u0f7c\u0f51")
    add("combining", "e\u0301 cafe\u0301 a\u0300\u0301\u0302\u0303 \u0301start Z\u0351\u0364a\u0350l\u033ego")
    add("emoji", "\U0001f44d\U0001f3fd \U0001f600\U0001f603\U0001f604 \u2764\ufe0f ok\U0001f44c")
    add("emoji_zwj", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family "
                     "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f9d1\U0001f3fe\u200d\U0001f4bb")
    add("emoji_flags", "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5 \U0001f1e9\U0001f1ea flags "
                       "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f")
    add("keycaps", "1\ufe0f\u20e3 #\ufe0f\u20e3 *\u20e3")
    add("mixed", "Hello\u041c\u0438\u0440\u4f60\u597d123abc!!!???...")
    add("code", "def f(x):\n    return x**2  # comment\n\n\tif (a<=b) {c->d[0] += 1;}\n")
    add("url_email", "https://example.com/a?b=c&d=e#f mail: user.name+tag@example.co.uk")
    add("currency_math", "$100 \u20ac50 \u00a51000 \u00a33 \u2200x\u2208\u211d: x\u00b2\u22650 \u221e")
    add("byte_alphabet_chars", "\u0120\u010a \u0109 \u0120the \u00c4\u0142 \u0100\u0143")
    add("private_unassigned", "\ue000\U000f0000 \u0378 \U00031350 \U000e0001 \ufffe\uffff \ufffd")
    add("special_eos", "</s>")
    add("special_pad", "<pad>")
    add("special_in_word", "a</s>b<pad>c")
    add("special_repeated", "</s></s><pad><pad></s>")
    add("special_spaced", " </s> <pad>  </s>\n</s>\t")
    add("special_text", "text </s>\n<pad> more text</s>The end.<pad>")
    add("special_partial", "</s <pad </ s> <pa d> <</s>> <<pad>> </s/>")
    add("special_other", "<s> <unk> <mask> <|endoftext|> </s><|endoftext|><s>")
    add("special_unicode", "\u00e9</s>\u00e9 \U0001f600<pad>\U0001f600")
    add("invalid_ff", b"\xff")
    add("invalid_cont", b"abc\x80def")
    add("invalid_trunc2", b"\xc3")
    add("invalid_trunc2b", b"\xc3(")
    add("invalid_trunc3", b"\xe2\x82")
    add("invalid_trunc3b", b"x\xe2\x82(y")
    add("invalid_trunc4", b"\xf0\x9f\x98")
    add("invalid_trunc4b", b"\xf0\x9f\x98 x \xf0\x9f")
    add("invalid_surrogate", b"\xed\xa0\x80 \xed\xbf\xbf")
    add("invalid_too_big", b"\xf4\x90\x80\x80 \xf5\x80\x80\x80")
    add("invalid_overlong", b"\xc0\xaf \xc1\xbf \xe0\x80\xaf \xf0\x80\x80\xaf")
    add("invalid_fe_ff", b"\xfe\xff \xfe")
    add("invalid_cont_run", b"\x80\x80\x80 \xbf")
    add("invalid_mixed", b"caf\xc3\xa9 caf\xe9 na\xefve \xe2\x82\xac \xe2\x82 \xe2")
    add("invalid_near_special", b"\xe2</s>\x80<pad>\xf0\x9f")
    add("invalid_end", b"word \xf0\x9f\x98\x80\xf0\x9f\x98")
    add("long_word", "a" * 5000)
    add("long_word2", "supercalifragilistic" * 500)
    add("long_word3", "ab" * 3000 + " " + "xyz" * 2000)
    add("long_spaces", " " * 3000 + "x" + " " * 3000)
    add("long_newlines", "\n" * 1000 + "y" + "\n \n" * 300)
    add("long_punct", "!" * 2000 + "?" * 10 + ".,;" * 500)
    add("long_emoji", "\U0001f600" * 1000)
    add("long_cjk", "\u4e2d\u6587" * 2000)
    rng = random.Random(1234)
    letters = [chr(x) for x in range(0x61, 0x7b)]
    letters += [chr(x) for x in range(0x41, 0x5b)]
    pool = letters * 4 + list("0123456789'''!?.,-_/\\\"()[]{}<>@#$%^&*+=~`|;:") + \
        [" "] * 20 + ["\n", "\t", "\r", "\u00a0", "\u3000", "\u2028", "\u0085"] + \
        ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "</s>", "<pad>", "<s>", "<|endoftext|>"] + \
        list("\u00e9\u00fc\u00f1\u00df\u0142\u0107\u4e2d\u6587\u65e5\u672c\u0645\u05e9\u0928\u094d\u0301\u200d") + \
        ["\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f1fa\U0001f1f8", "\u00bd", "\u0663", "\u2160"]
    for k in range(40):
        n = rng.randint(1, 400)
        add("fuzz_text_%02d" % k, "".join(rng.choice(pool) for _ in range(n)))
    for k in range(15):
        n = rng.randint(1, 300)
        b = bytes(rng.choice([rng.randrange(256), rng.randrange(0x80, 0x100), 0x20, 0x61, 0x27])
                  for _ in range(n))
        add("fuzz_bytes_%02d" % k, b)
    return c


def sweep_cases():
    """' a' + chr(cp) + '1' for every code point of planes 0-3 and 14: the split of each triple
    depends on the class (letter, number, space, other) of cp."""
    cases = []
    cps = [cp for cp in range(0, 0x40000) if not (0xD800 <= cp <= 0xDFFF)]
    cps += list(range(0xE0000, 0xE1000))
    chunk = 0x4000
    for i in range(0, len(cps), chunk):
        part = cps[i:i + chunk]
        text = "".join(" a" + chr(cp) + "1" for cp in part)
        cases.append(("sweep_U+%04X..U+%04X" % (part[0], part[-1]), text.encode("utf-8")))
    return cases


def run_tool(tool, tok_args, args, capture=True):
    r = subprocess.run([tool] + tok_args + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("rptq-tokenize failed (%d): %s" % (r.returncode, r.stderr.decode("utf-8", "replace")))
    return r.stdout, r.stderr.decode("utf-8", "replace")


def parse_batch(out):
    result = {}
    cur = None
    for line in out.decode("utf-8").splitlines():
        if line.startswith("# "):
            cur = line[2:]
            result[cur] = []
        elif line:
            result[cur].append(int(line))
    return result


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else -1


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, note=""):
        self.passed += 1
        print("PASS %s%s" % (name, (" (" + note + ")") if note else ""), flush=True)

    def bad(self, name, why):
        self.failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)


def compare_ids(rep, name, ours, ref, tok):
    d = first_diff(ours, ref)
    if d < 0:
        rep.ok(name, "%d ids" % len(ref))
        return
    lo = max(0, d - 3)
    rep.bad(name, "first difference at id index %d (ours %d ids, HF %d ids): ours %s %s vs HF %s %s" % (
        d, len(ours), len(ref), ours[lo:d + 4], tok.convert_ids_to_tokens(
            [i for i in ours[lo:d + 4] if 0 <= i < len(tok)]), ref[lo:d + 4],
        tok.convert_ids_to_tokens(ref[lo:d + 4])))


def check_vocab(rep, label, tool, vocab_dir, tok, bos_id, wiki, work):
    tok_args = ["--vocab", os.path.join(vocab_dir, "vocab.json"), "--merges", os.path.join(vocab_dir, "merges.txt")]

    def hf_ids(data):
        return [bos_id] + tok(data.decode("utf-8", "replace"), add_special_tokens=False).input_ids

    # --dir form loads the same defaults (no special_tokens_map.json in these directories).
    cases = [("wikitext2_test", wiki)] + adversarial_cases() + sweep_cases()
    paths = []
    for i, (name, data) in enumerate(cases):
        p = os.path.join(work, "%s_%03d.txt" % (label, i))
        with open(p, "wb") as f:
            f.write(data)
        paths.append(p)
    t0 = time.time()
    out, err = run_tool(tool, ["--dir", vocab_dir, "--time"], paths)
    ours_all = parse_batch(out)
    for line in err.splitlines():
        if "wikitext" in line or line.startswith(paths[0]):
            print("     %s/wikitext2 encode speed: %s" % (label, line.split(": ", 1)[1]), flush=True)
    # The explicit vocab+merges form must agree with --dir on one case.
    out2, _ = run_tool(tool, tok_args, [paths[1], paths[2]])
    if parse_batch(out2) != {paths[1]: ours_all[paths[1]], paths[2]: ours_all[paths[2]]}:
        rep.bad(label + "/vocab_merges_form", "--vocab/--merges output differs from --dir output")
    else:
        rep.ok(label + "/vocab_merges_form")

    refs = {}
    t_hf = 0.0
    for (name, data), p in zip(cases, paths):
        t1 = time.time()
        ref = hf_ids(data)
        t_hf += time.time() - t1
        refs[p] = ref
        compare_ids(rep, "%s/encode/%s" % (label, name), ours_all.get(p, []), ref, tok)

    # Decode: our bytes of HF's ids vs HF's decode, and exact round trips of valid UTF-8 text.
    dec_inputs = []
    for (name, data), p in zip(cases, paths):
        if name.startswith("sweep"):
            continue
        ip = p + ".ids"
        with open(ip, "w") as f:
            f.write("\n".join(str(i) for i in refs[p]))
        dec_inputs.append((name, data, ip, refs[p]))
    rng = random.Random(99)
    byte_ids = sorted(set(tok.convert_tokens_to_ids(list(tok.byte_encoder.values())))) \
        if hasattr(tok, "byte_encoder") else None
    if byte_ids is None:
        from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode
        byte_ids = sorted(tok.convert_tokens_to_ids(list(bytes_to_unicode().values())))
    n_vocab = len(tok)
    for k in range(20):
        if k % 2 == 0:
            ids = [rng.randrange(n_vocab) for _ in range(rng.randint(1, 60))]
        else:  # byte tokens: cut and invalid multi-byte sequences
            ids = [rng.choice(byte_ids) for _ in range(rng.randint(1, 60))]
        ip = os.path.join(work, "%s_random_%02d.ids" % (label, k))
        with open(ip, "w") as f:
            f.write(" ".join(str(i) for i in ids))
        dec_inputs.append(("random_ids_%02d" % k, None, ip, ids))
    run_tool(tool, ["--dir", vocab_dir, "--decode"], [x[2] for x in dec_inputs])
    bos_text = tok.convert_ids_to_tokens(bos_id).encode("utf-8")
    for name, data, ip, ids in dec_inputs:
        with open(ip + ".bytes", "rb") as f:
            ours = f.read()
        # transformers' clean_up_tokenization_spaces (' ,' -> ',' etc.) is a text post-process
        # outside the tokenizer proper; compare with it off.
        ref = tok.decode(ids, clean_up_tokenization_spaces=False)
        mine = ours.decode("utf-8", "replace")
        cname = "%s/decode/%s" % (label, name)
        if mine != ref:
            d = first_diff(mine, ref)
            rep.bad(cname, "first difference at char %d: ours %r vs HF %r" % (d, mine[max(0, d - 10):d + 10],
                                                                            ref[max(0, d - 10):d + 10]))
            continue
        if data is not None:
            clean = data.decode("utf-8", "replace").encode("utf-8")
            if ours != bos_text + clean:
                rep.bad(cname, "round trip is not exact: decode(encode(text)) != BOS + text")
                continue
        rep.ok(cname)
    print("     %s: HF encode time %.2f s" % (label, t_hf), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True, help="path of rptq-tokenize")
    ap.add_argument("--shared", required=True, help="shared data directory (holds data/)")
    args = ap.parse_args()

    rep = Report()
    try:
        import transformers
        from transformers import GPT2TokenizerFast
        transformers.logging.set_verbosity_error()
    except Exception as e:  # noqa: BLE001
        print("FAIL oracle: cannot import transformers with %s: %s" % (sys.executable, e))
        print("0 passed, 1 failed")
        return 1

    data = os.path.join(args.shared, "data")
    wiki_path = os.path.join(data, "wikitext-2-raw", "wiki.test.raw")
    configs = [
        ("opt", os.path.join(data, "opt-tokenizer"),
         dict(bos_token="</s>", eos_token="</s>", unk_token="</s>", pad_token="<pad>"), "</s>"),
        ("gpt2", os.path.join(data, "gpt2-tokenizer"), dict(), "<|endoftext|>"),
    ]
    for p in [wiki_path, args.tool] + [c[1] for c in configs]:
        if not os.path.exists(p):
            rep.bad("setup", "missing %s" % p)
    if rep.failed:
        print("%d passed, %d failed" % (rep.passed, rep.failed))
        return 1
    with open(wiki_path, "rb") as f:
        wiki = f.read()

    with tempfile.TemporaryDirectory(prefix="rptq-tok-") as work:
        for label, d, kwargs, bos in configs:
            tok = GPT2TokenizerFast(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"), **kwargs)
            bos_id = tok.convert_tokens_to_ids(bos)
            try:
                check_vocab(rep, label, args.tool, d, tok, bos_id, wiki, work)
            except Exception as e:  # noqa: BLE001
                rep.bad(label, "error: %s" % e)
    print("%d passed, %d failed" % (rep.passed, rep.failed))
    return 0 if rep.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
