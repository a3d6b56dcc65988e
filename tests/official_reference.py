"""A test-side transcription of the official PAD code's computations (github
Applied-Machine-Learning-Lab/PAD at 506c72d) and of tllib's MK-MMD, written from reading that
code, so tests can check that padlib computes the same losses and gradients.

Files transcribed: ``model/modules.py`` (the SASRec blocks), ``model/encoders.py`` (User_Encoder,
FC_Layers, MLP_Layers, CAT), ``model/model_mmd_ada.py`` (Model2_id, Model2_transfer, Model_new3_3
forwards), ``data_utils/dataset.py`` (the training rows: a left-padded sequence of L + 1 items and
negatives at valid positions) and ``tllib/alignment/dan.py`` + ``tllib/modules/kernels.py``.
Everything is functional over a dict of tensors so padlib's weights can be handed in unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def tllib_gaussian_kernel(features: torch.Tensor, alpha: float) -> torch.Tensor:
    """tllib GaussianKernel(alpha) with track_running_stats: σ² = alpha · mean of all squared distances."""
    l2 = ((features.unsqueeze(0) - features.unsqueeze(1)) ** 2).sum(2)
    sigma_square = alpha * torch.mean(l2.detach())
    return torch.exp(-l2 / (2 * sigma_square))


def tllib_index_matrix(batch_size: int, dtype: torch.dtype) -> torch.Tensor:
    """tllib ``_update_index_matrix`` (linear=False), written with the same loops."""
    index = torch.zeros(2 * batch_size, 2 * batch_size, dtype=dtype)
    for i in range(batch_size):
        for j in range(batch_size):
            if i != j:
                index[i][j] = 1.0 / float(batch_size * (batch_size - 1))
                index[i + batch_size][j + batch_size] = 1.0 / float(batch_size * (batch_size - 1))
    for i in range(batch_size):
        for j in range(batch_size):
            index[i][j + batch_size] = -1.0 / float(batch_size * batch_size)
            index[i + batch_size][j] = -1.0 / float(batch_size * batch_size)
    return index


def tllib_mkmmd(z_s: torch.Tensor, z_t: torch.Tensor, scales: tuple[int, ...] = (-3, -2, -1, 0, 1)) -> torch.Tensor:
    """MultipleKernelMaximumMeanDiscrepancy([GaussianKernel(alpha=2 ** k) for k in scales])(z_s, z_t)."""
    features = torch.cat([z_s, z_t], dim=0)
    batch_size = int(z_s.size(0))
    kernel_matrix = sum(tllib_gaussian_kernel(features, 2.0 ** k) for k in scales)
    return (kernel_matrix * tllib_index_matrix(batch_size, features.dtype)).sum() + 2.0 / float(batch_size - 1)


# -- the official model code, functional (``Weights`` maps the official names to tensors) ----------

Weights = dict[str, torch.Tensor]


def _embedding(p: Weights, name: str, idx: torch.Tensor) -> torch.Tensor:
    """nn.Embedding(item_num + 1, d, padding_idx=0): row 0 is looked up but never gets a gradient."""
    return F.embedding(idx, p[f"{name}.weight"], padding_idx=0)


def _layer_norm(x: torch.Tensor, p: Weights, name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], p[f"{name}.weight"], p[f"{name}.bias"], eps=1e-6)


def user_encoder(p: Weights, name: str, input_embs: torch.Tensor, log_mask: torch.Tensor, n_layers: int,
                 n_heads: int) -> torch.Tensor:
    """User_Encoder.forward → TransformerEncoder.forward (model/encoders.py, model/modules.py), no dropout."""
    att_mask = (log_mask != 0).unsqueeze(1).unsqueeze(2)
    att_mask = torch.tril(att_mask.expand((-1, -1, log_mask.size(-1), -1)))
    att_mask = torch.where(att_mask, torch.tensor(0.0, dtype=input_embs.dtype),
                           torch.tensor(-1e9, dtype=input_embs.dtype))
    enc = f"{name}.transformer_encoder"
    position_ids = torch.arange(log_mask.size(1)).unsqueeze(0).expand_as(log_mask)
    output = _layer_norm(input_embs + p[f"{enc}.position_embedding.weight"][position_ids], p, f"{enc}.layer_norm")
    sz_b, length, d_model = output.shape
    d_k = d_model // n_heads
    for i in range(n_layers):
        block = f"{enc}.transformer_blocks.{i}"
        mha = f"{block}.multi_head_attention"
        residual = output
        q = (output @ p[f"{mha}.w_Q.weight"].T).view(sz_b, length, n_heads, d_k).transpose(1, 2)
        k = (output @ p[f"{mha}.w_K.weight"].T).view(sz_b, length, n_heads, d_k).transpose(1, 2)
        v = (output @ p[f"{mha}.w_V.weight"].T).view(sz_b, length, n_heads, d_k).transpose(1, 2)
        attn = torch.matmul(q, k.transpose(-2, -1)) / d_k ** 0.5 + att_mask
        x = torch.matmul(torch.softmax(attn, dim=-1), v)
        x = x.transpose(1, 2).contiguous().view(sz_b, length, d_model) @ p[f"{mha}.fc.weight"].T
        output = _layer_norm(residual + x, p, f"{mha}.layer_norm")
        ffn = f"{block}.feed_forward"
        residual = output
        x = F.linear(F.relu(F.linear(output, p[f"{ffn}.w_1.weight"], p[f"{ffn}.w_1.bias"])),
                     p[f"{ffn}.w_2.weight"], p[f"{ffn}.w_2.bias"])
        output = _layer_norm(residual + x, p, f"{ffn}.layer_norm")
    return output


def fc_layers(p: Weights, name: str, x: torch.Tensor, mo_dnn_layers: int) -> torch.Tensor:
    """FC_Layers.forward: GELU(fc(x)), then MLP_Layers: mo_dnn_layers × [Dropout, Linear, GELU]."""
    x = F.gelu(F.linear(x, p[f"{name}.fc.weight"], p[f"{name}.fc.bias"]))
    for i in range(mo_dnn_layers):
        lin = f"{name}.mlp_layers.mlp_layers.{3 * i + 1}"
        x = F.gelu(F.linear(x, p[f"{lin}.weight"], p[f"{lin}.bias"]))
    return x


def cat_fusion(p: Weights, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """CAT.forward: concat → Dropout → Linear 2d→d → GELU."""
    return F.gelu(F.linear(torch.cat([x, y], 1), p["fc.mlp_layers.1.weight"], p["fc.mlp_layers.1.bias"]))


def _scores(p: Weights, encoder: str, item_embs: torch.Tensor, log_mask: torch.Tensor, n_layers: int,
            n_heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared tail of every official forward: rows [B·(L+1)·2, d] → (pos_score, neg_score) [B, L]."""
    max_seq_len = log_mask.shape[1] + 1
    input_embs = item_embs.view(-1, max_seq_len, 2, item_embs.shape[-1])
    pos_items_embs, neg_items_embs = input_embs[:, :, 0], input_embs[:, :, 1]
    prec_vec = user_encoder(p, encoder, pos_items_embs[:, :-1, :], log_mask, n_layers, n_heads)
    return (prec_vec * pos_items_embs[:, 1:, :]).sum(-1), (prec_vec * neg_items_embs[:, :-1, :]).sum(-1)


def _bce(pos_score: torch.Tensor, neg_score: torch.Tensor, log_mask: torch.Tensor) -> torch.Tensor:
    indices = torch.where(log_mask != 0)
    return (F.binary_cross_entropy_with_logits(pos_score[indices], torch.ones_like(pos_score[indices]))
            + F.binary_cross_entropy_with_logits(neg_score[indices], torch.zeros_like(neg_score[indices])))


def model2_id_loss(p: Weights, sample_items_id: torch.Tensor, log_mask: torch.Tensor, n_layers: int,
                   n_heads: int) -> torch.Tensor:
    """Model2_id.forward (phase 1): ID table + user_encoder, BCE at the valid positions."""
    items = _embedding(p, "id_embedding", sample_items_id.reshape(-1))
    return _bce(*_scores(p, "user_encoder", items, log_mask, n_layers, n_heads), log_mask)


def model2_transfer_loss(p: Weights, sample_items_id: torch.Tensor, item_content: torch.Tensor,
                         log_mask: torch.Tensor, n_layers: int, n_heads: int, mo_dnn_layers: int,
                         gamma: float = 0.2) -> torch.Tensor:
    """Model2_transfer.forward (phase 2): other_embedding ⊕ turn_dim1(text) through CAT into user_enc_2,
    BCE + 0.2 · tllib MK-MMD(projected text, ID) over every row of the batch (padding rows included)."""
    rows = sample_items_id.reshape(-1)
    input_embs_id = _embedding(p, "other_embedding", rows)
    input_embs_content = fc_layers(p, "turn_dim1", item_content[rows], mo_dnn_layers)
    input_embs_all = cat_fusion(p, input_embs_id, input_embs_content)
    mkmmd_loss = gamma * tllib_mkmmd(input_embs_content, input_embs_id)
    return _bce(*_scores(p, "user_enc_2", input_embs_all, log_mask, n_layers, n_heads), log_mask) + mkmmd_loss


def model_new3_3_loss(p: Weights, sample_items_id: torch.Tensor, item_content: torch.Tensor,
                      log_mask: torch.Tensor, bin_pos_item: torch.Tensor, bin_neg_item: torch.Tensor,
                      n_layers: int, n_heads: int, mo_dnn_layers: int) -> torch.Tensor:
    """Model_new3_3.forward (phase 3): the ID, aligned and text experts' scores mixed by
    σ(α_k[bucket]) / Σ_j σ(α_j[bucket]) of the target (positives) and of the negative."""
    rows = sample_items_id.reshape(-1)
    input_embs_id = _embedding(p, "id_embedding", rows)
    input_other = _embedding(p, "other_embedding", rows)
    content = item_content[rows]
    input_embs_all = cat_fusion(p, input_other, fc_layers(p, "turn_dim1", content, mo_dnn_layers))
    input_embs_all3 = fc_layers(p, "turn_dim3", content, mo_dnn_layers)
    pos2, neg2 = _scores(p, "user_enc_2", input_embs_all, log_mask, n_layers, n_heads)
    pos1, neg1 = _scores(p, "user_encoder", input_embs_id, log_mask, n_layers, n_heads)
    pos3, neg3 = _scores(p, "user_enc_3", input_embs_all3, log_mask, n_layers, n_heads)
    alpha, alpha2, alpha3 = (torch.sigmoid(p[n][bin_pos_item]) for n in ("alpha", "alpha2", "alpha3"))
    beta, beta2, beta3 = (torch.sigmoid(p[n][bin_neg_item]) for n in ("alpha", "alpha2", "alpha3"))
    alpha_s, beta_s = alpha + alpha2 + alpha3, beta + beta2 + beta3
    pos_score = alpha / alpha_s * pos1 + alpha2 / alpha_s * pos2 + alpha3 / alpha_s * pos3
    neg_score = beta / beta_s * neg1 + beta2 / beta_s * neg2 + beta3 / beta_s * neg3
    return _bce(pos_score, neg_score, log_mask)


def official_rows(sequences: list[list[int]], negatives: list[list[int]], max_seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """BuildTrainDataset.__getitem__ for each user (data_utils/dataset.py), with its sampled negatives
    given: → sample_items_id [B, L+1, 2] and log_mask [B, L]."""
    ids, masks = [], []
    for seq, neg in zip(sequences, negatives):
        length = max_seq_len + 1
        mask_len_head = length - len(seq)
        masks.append([0] * mask_len_head + [1] * (len(seq) - 1))
        neg_items = [0] * mask_len_head + list(neg) + [0]
        ids.append(torch.tensor([[0] * mask_len_head + list(seq), neg_items]).T)
    return torch.stack(ids), torch.tensor(masks, dtype=torch.float64)
