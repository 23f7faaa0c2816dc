# %% [markdown]
# # 8 · 中文：训练一个读中文的模型，并逐字观察它 (Chinese text, step by step)
#
# 这份讲义（lecture）讲的是 **SimpleRNN + 自注意力 (self-attention)**：循环神经网络
# 每读一个输入，都回头看一遍自己过去的全部隐状态 (hidden states)，按权重
# (weights) $\alpha_{t,i}$ 把它们加成一个上下文向量 (context vector) $c_t$，再用
# $c_t$ 计算下一个隐状态。本笔记本用中文文本做同样的事：
#
# 1. 把中文切成 token：按字 (characters) 或按词 (words)；
# 2. 在一小段中文上训练一个按字读的语言模型 (language model)；
# 3. 在小部件 (widget) 里逐字阅读一句话，看 $h_t$、$c_t$ 和 $\alpha_{t,i}$；
# 4. 用这个模型记下的数字，逐条验证讲义的公式 (2) 和 (4)。
#
# 英文术语放在括号里，代码里的名字用 `等宽字体`。下面的术语表把讲义的说法和
# 本包的名字一一对应起来。
#
# ## 术语表 (Glossary)
#
# | 讲义中的术语 | English | 本包中的名字 |
# |---|---|---|
# | 自注意力 | self-attention | `SelfAttentionRNN(D, H, update="eq3" 或 "eq4")` |
# | 简单循环神经网络 SimpleRNN，公式 (1) | plain RNN, no attention | `update="eq1"` |
# | 输入（词向量）$x_t$，$t = 1 \dots T$ | input (embedding) | `model.embed`；`step.x` 是 $x_{t+1}$ |
# | 隐状态 $h_t$，$h_0 = 0$ | hidden state | `trace.h[t]`；`step.h` 是 $h_{t+1}$；小部件里 ⟨start⟩ 代表 $h_0$ |
# | 对齐函数 align$(h_i, h_t)$ | align function (score) | `align="dot"`、`"scaled_dot"`、`"additive"`；`step.scores` |
# | 查询、键 $W_Q$、$W_K$ | query, key | `model.rnn.align.W_q`、`model.rnn.align.W_k` |
# | 权重 $\alpha_{t,i}$，公式 (2) | attention weight | `trace.alpha[t, i]`、`step.alpha[i]`；小部件里的阴影、柱子和三角矩阵 |
# | 上下文向量 $c_t = \sum_{i=0}^{t} \alpha_{t,i} h_i$ | context vector | `trace.c[t]`、`step.c` |
# | 参数矩阵 $A$、偏置 $b$ | weight matrix, bias | `model.rnn.A.weight`、`model.rnn.A.bias` |
# | 拼接 $[h_t; x_{t+1}; c_t]$ | concatenation $z$ | `step.z`，顺序见 `model.rnn.z_layout` |
# | 第 $t$ 步 | step $t$ (reads $x_{t+1}$) | `Step.t`；小部件写作 "step t" |
# | 已读到第 $k$ 个 | position $k$ | `w.t`（别名 `w.position`）；小部件写作 "read k of T" |
# | 字、词、分词 | character, word, segmentation | `char_tokenize`、`word_tokenize(segmenter=...)` |
# | 词表、未登录词 | vocabulary, unknown word | `Vocab`、`<unk>` |
#
# 讲义的四个公式（$i = 0 \dots t$，求和与 softmax 都包括 $h_0$ 和 $h_t$ 自己）：
#
# | 公式 | 内容 | 本包 |
# |---|---|---|
# | (1) | $h_{t+1} = \tanh(A\,[h_t; x_{t+1}] + b)$ | `update="eq1"`（没有注意力） |
# | (2) | $\alpha_{t,i} = \operatorname{softmax}_i\big(\text{align}(h_i, h_t)\big)$ | 每个带注意力的规则；`step.alpha` |
# | (3) | $h_{t+1} = \tanh(A\,[x_{t+1}; c_t] + b)$ | `update="eq3"` |
# | (4) | $h_{t+1} = \tanh(A\,[h_t; x_{t+1}; c_t] + b)$ | `update="eq4"`（默认） |
#
# **字体 (fonts)。** 小部件里的汉字由浏览器用系统字体来画。如果看到的是一个个方框
# □，说明浏览器找不到中文字体：Windows 和 macOS 自带；Linux 上装一个即可，例如
# Debian/Ubuntu 的 `fonts-wqy-microhei`（约 1.6 MB）或 `fonts-noto-cjk`（约 57 MB），
# 然后重启浏览器。

# %%
import copy
import itertools

import numpy as np
import torch

from attn_widget import AttentionWidget
from attn_widget.tasks import language_model
from attn_widget.text import TextRNN, Vocab, char_tokenize, word_tokenize
from attn_widget.train import train

torch.set_num_threads(1)  # 这么小的模型，单线程训练反而更快 (faster on one thread)

# 一段为本包写的短文：package 自带的英文故事 LIGHTHOUSE 的中文版。
TEXT = """
灯塔比看守人还要老。它的铜已经变成淡茶的颜色，巨大的透镜把火光投成一道道又长又慢的光轮，
扫过海水和礁石，扫过海湾对岸村子的屋顶。渔民说，他们可以照着它对钟。玛拉说，钟可从来没有
在大风里爬过九十一级台阶。

春天，一个男孩划船送来信件和一袋面粉。他问她孤单不孤单。她没有回答，只把航海日志拿给他看：
看见的船，警告过的船，还有一条断了桨的小船，被她拖了回来，船里坐着两个冻坏了的兄弟。
男孩把每一行都读完了，然后问他星期天能不能再来，学打绳结。

星期天他又来了，下一个星期天也来了。到了秋天，他已经会剪灯芯，会把透镜擦得一条痕迹也没有，
也会看天色，说出雾什么时候从西边涌进来。玛拉还是大声数着台阶。现在有两个声音在数，风留在
外面，留在它该待的地方。
"""
text = "".join(TEXT.split())  # 中文不用空格：去掉换行 (no spaces or line breaks)
print(len(text), "个字符 (characters):", text[:30], "…")

# %% [markdown]
# ## 1 · 字还是词 (Characters or words)
#
# 英文的词之间有空格，中文没有。所以 tokenizer 有两种读法：
#
# - **按字** (`char_tokenize`，或 `word_tokenize(..., segmenter="chars")`)：一个汉字一个
#   token。词表 (vocabulary) 小，序列长，什么都不用装。
# - **按词** (`word_tokenize(..., segmenter="jieba")`)：用 jieba 的词典和模型分词。
#   本包通过 `rjieba` 包调用它，是可选依赖：`pip install "attn_widget[zh]"`。
#
# 不指定 `segmenter` 时，`word_tokenize` 装了 rjieba 就按词分，没装就按字分；无论哪种，
# 都不会把整个分句当成一个 token。句中的数字和英文单词各自成词。

# %%
sentence = "玛拉还是大声数着台阶。"
print(char_tokenize(sentence))
print(word_tokenize(sentence, segmenter="chars"))
print(word_tokenize("2024年，玛拉数了91级台阶。", segmenter="chars"))

# %% [markdown]
# 下面这格按词分。它要 rjieba；测试环境装了它（`pip install -e ".[test]"` 会装），
# 没装的话这格只会告诉你怎么装，笔记本的其余部分照样能跑。

# %%
# 装没装 rjieba，这格打印的不同，所以 nbval 不比较它的输出；assert 照样检查。
# NBVAL_IGNORE_OUTPUT
try:
    words = word_tokenize(sentence, segmenter="jieba")
except ModuleNotFoundError as error:
    print("没有安装 rjieba，不能按词分 (not installed):", error)
else:
    print(words)
    assert "".join(words) == sentence and len(words) < len(sentence)  # 一个不少，切成了词

# %% [markdown]
# 一个词模型 (`TextRNN(..., tokenizer="word")`) 会把它用的分词方式记在自己的配置里
# (`model.segmenter`，也存进 checkpoint)：词表里有两个字以上的中文词，就是 `"jieba"`，
# 否则是 `"chars"`。这样模型换了一台机器也按原来的方式读；如果那台机器没有 rjieba，
# 它会直接报错说明原因，而不是悄悄改成按字读、读出一堆它没学过的 token。

# %%
print(TextRNN(Vocab(["玛拉", "台阶", "。"]), 4, 8).segmenter)  # 词表里有词
print(TextRNN(Vocab(list("玛拉台阶。")), 4, 8).segmenter)  # 词表里只有字

# %% [markdown]
# ## 2 · 训练一个按字读的语言模型 (Train a character language model)
#
# 语言模型在每个位置预测下一个 token。这里按字读，所以不需要 rjieba，结果在哪台机器上
# 都一样。`language_model` 把文本切成 32 个字一段的窗口，每 8 个字开一个新窗口。
# 模型用公式 (4) 和点积对齐函数 (dot align)。文本很短，模型会把它几乎背下来：
# 这正好，我们要看的是它里面的数字。

# %%
data = language_model(text, tokenizer="char", seq_len=32, stride=8)
print(data)
torch.manual_seed(0)
model = TextRNN(
    data.vocab, 32, 64, update="eq4", align="dot", n_outputs=len(data.vocab), tokenizer="char"
)
history = train(model, data, epochs=30, batch_size=16, lr=1e-2, seed=0, progress=False)
uniform = np.log(len(data.vocab))  # 每个字都同样可能时的损失 (loss of uniform guessing)
# 训练出的数字的最后几位随 CPU 而变，下面的结论不变 (the claims hold on any CPU)。
print(f"第一轮的损失接近均匀猜测 ({uniform:.2f}):", history.loss[0] > uniform - 0.5)
print("最后一轮的损失低于 0.2:", history.loss[-1] < 0.2)
print("最后一轮预测下一个字的准确率 ≥ 0.95:", history.accuracy[-1] >= 0.95)
assert history.loss[0] > uniform - 0.5 and history.loss[-1] < 0.2
assert history.accuracy[-1] >= 0.95

# %% [markdown]
# ## 3 · 在小部件里逐字阅读 (Step through a sentence)
#
# 点 ▶ (Step forward) 读下一个字，◀ 退回一个字，也可以用键盘的 ← →。
#
# - **红色**的字是刚读入的 $x_k$，小部件上方写着 "read k of T"（已读到第 $k$ 个）。
# - 前面各字的**阴影**是权重 $\alpha_{k-1,i}$：它们由 $h_{k-1}$ 算出，是在读红字**之前**
#   选定的，所以对红字本身"看不见"。它们合成的 $c_{k-1}$ 和红字 $x_k$ 一起进入公式 (4)，
#   得到 $h_k$。⟨start⟩ 代表 $h_0 = 0$。
# - 右边的三角矩阵：第 $j$ 行是读 $x_j$ 时用的权重，列是 ⟨start⟩ 和各个字。
#
# 模型每读一个字，就从新的隐状态猜下一个字。这句话出自训练文本；在文本没有给出选择的
# 地方（比如"台"后面在全文里只跟过"阶"），学好了的模型会接着原文往下写。

# %%
# 文本留有选择的地方，模型猜哪个字随 CPU 而变，所以 nbval 不比较这格的输出；
# assert 检查文本替它决定了的那几处。
# NBVAL_IGNORE_OUTPUT
w = AttentionWidget.from_text(model, sentence)
follow = {}  # 全文里每个字后面出现过的字 (what follows each character in the text)
for a, b in itertools.pairwise(text):
    follow.setdefault(a, set()).add(b)
guesses = []
for k in range(1, w.T):
    step = w.goto(k)
    guesses.append(model.vocab.itos[int(model.out(step.h).argmax())])
    decided = "（文本只允许这一个）" if len(follow[sentence[k - 1]]) == 1 else ""
    print(f"读到 {w.tokens[k - 1]} → 猜下一个字 {guesses[-1]}，原文是 {sentence[k]} {decided}")
decided_at = [k for k in range(1, w.T) if len(follow[sentence[k - 1]]) == 1]
assert [sentence[k - 1] for k in decided_at] == ["玛", "是", "台", "阶"]
assert all(guesses[k - 1] == sentence[k] for k in decided_at), guesses
w.goto(9)  # 刚读入 x_9 = "台"：read 9 of 11，step 8
w

# %% [markdown]
# ## 4 · 公式 (2) 和 (4)，一个数一个数地对 (The equations, number by number)
#
# 小部件里每一步的数字都来自 Python 里的步记录 (step record) `Step`：
# `step.scores`（对齐分数）、`step.alpha`（权重）、`step.c`（上下文向量）、
# `step.z`（拼接）、`step.pre`（$Az + b$）和 `step.h`（新的隐状态）。
# 我们把训练好的模型复制一份，改用 float64 计算，读同一句话，再用 numpy 按讲义的公式
# 重算一遍第 8 步：它读 $x_9$ = "台"，得到 $h_9$。两边的差要小于 $10^{-12}$。

# %%
rnn = copy.deepcopy(model.rnn).double()  # 同样的权重，float64
_, x = model.embed_text(sentence)
x = x.detach().double().numpy()  # x[j - 1] 是 x_j
stepper = rnn.stepper(torch.from_numpy(x))
t = 8  # 第 8 步读 x_9 = "台"
steps = [stepper.step() for _ in range(t + 1)]
step = steps[t]
h = np.stack([np.zeros(rnn.hidden_size)] + [s.h.numpy() for s in steps[:t]])  # h_0 … h_8

W_q = rnn.align.W_q.weight.detach().numpy()
W_k = rnn.align.W_k.weight.detach().numpy()
scores = (h @ W_k.T) @ (W_q @ h[t])  # 对齐函数 align(h_i, h_8) = (W_K h_i)·(W_Q h_8)
e = np.exp(scores - scores.max())
alpha = e / e.sum()  # 公式 (2)：softmax，i = 0 … 8
c = alpha @ h  # 上下文向量 c_8 = Σ_i α_{8,i} h_i
A, b = rnn.A.weight.detach().numpy(), rnn.A.bias.detach().numpy()
print("拼接的顺序 (z_layout):", rnn.z_layout)
h_next = np.tanh(A @ np.concatenate([h[t], x[t], c]) + b)  # 公式 (4)：[h_8; x_9; c_8]


def agree(a, b):
    return bool(np.allclose(a, b, rtol=0, atol=1e-12))


print(f"权重 α_8,i 有 {len(step.alpha)} 个 (i = 0 … 8)，加起来是 1:", agree(step.alpha.sum(), 1))
print("公式 (2) 的 α_8,i 与 numpy 一致:", agree(step.alpha.numpy(), alpha))
print("上下文向量 c_8 与 numpy 一致:", agree(step.c.numpy(), c))
print("公式 (4) 的 h_9 与 numpy 一致:", agree(step.h.numpy(), h_next))
assert agree(step.alpha.sum(), 1) and agree(step.alpha.numpy(), alpha)
assert agree(step.c.numpy(), c) and agree(step.h.numpy(), h_next)

# %% [markdown]
# 小部件里画的就是这些数字（它用 float32 算）：上面的小部件停在 "read 9 of 11"，
# 字上的阴影和三角矩阵里标着"台"的那一行就是 $\alpha_{8,i}$，"c_k-1" 那一条是 $c_8$，
# "h_k" 那一条是 $h_9$。
#
# ## 练习 (Exercise)
#
# 把模型换成公式 (1)：`update="eq1"`，用同样的设置训练，再放进小部件读同一句话
# (`AttentionWidget.from_text(plain, sentence)`，显示它看看)。小部件里还有权重 $\alpha$
# 和三角矩阵吗？步记录 `step.alpha` 和 `step.c` 是什么？

# %% [solution]
torch.manual_seed(0)
plain = TextRNN(data.vocab, 32, 64, update="eq1", n_outputs=len(data.vocab), tokenizer="char")
train(plain, data, epochs=30, batch_size=16, lr=1e-2, seed=0, progress=False)
w1 = AttentionWidget.from_text(plain, sentence)
step1 = w1.goto(9)
print("公式 (1) 没有注意力：alpha 是", step1.alpha, "，c 是", step1.c)
print("h_9 只由 h_8 和 x_9 算出，拼接的顺序:", plain.rnn.z_layout)
assert step1.alpha is None and step1.c is None
