#!/usr/bin/env Rscript
# Pins tests/reference/metafor_frequentist.json: metafor's answers for the frequentist companion (nma.frequentist)
# and the design-by-treatment check (nma.checks.design_by_treatment), on the networks of frequentist_networks.csv
# (written by make_frequentist_networks.py).
#
#   .venv/bin/python tests/reference/make_frequentist_networks.py
#   Rscript tests/reference/make_metafor_frequentist.R
#   git diff --exit-code tests/reference/metafor_frequentist.json
#
# The contrast design and the multi-arm covariance follow ../shared/reference/run_metafor.R: X has +1 for the arm's
# treatment and -1 for the study baseline (reference column dropped); V is block-diagonal with se^2 on the diagonal
# and the reference arm's se^2 off it; random effects ~ arm | study with struct = "CS", rho = 0.5 (a common tau).
#
# What metafor computes here (everything else below is bookkeeping):
#   fe:    rma.mv(y, V, mods = X, method = "FE")                        -> d, vcov, QE (Q total)
#   reml:  rma.mv(..., random = ~ arm | study, struct = "CS", rho = 0.5, method = "REML")   -> tau^2, d, vcov;
#          nlminb stops about 1e-7 from the optimum in tau^2, so tau^2 is polished by optimize(tol = 1e-12) on
#          metafor's restricted log-likelihood (logLik of the same call with tau2 = fixed), as good as 1e-9
#   Q-profile interval of tau^2: uniroot on QE of rma.mv(y, V + tau^2 C, mods = X, method = "FE")
#   Q within designs: QE of rma.mv(y, V, mods = D, method = "FE"), D = the design-by-treatment interaction design
#   global Wald test of inconsistency: QM of rma.mv(y, V + tau^2 C, mods = cbind(X, D), method = "FE", btt = D's
#     columns left after metafor drops those collinear with X), at tau^2 = 0 (fixed effect), at the DL tau^2 of the
#     design-by-treatment model (netmeta decomp.design's tau.within) and at the consistency model's REML tau^2
#   detached design: QE of rma.mv(y, V, mods = cbind(X, that design's columns of D), method = "FE") - Q within
#   two-treatment network only: rma.uni(method = "DL" / "REML"), confint(rma.uni) (Q-profile interval of tau^2)
# The DL tau^2 of the network models is the generalised moment estimator (Q - df) / tr(P C), written out below as
# netmeta's tau.within writes it (no R package computes it for rma.mv); it is pinned for the record, but the tests
# treat only the rma.uni DL value (two treatments) as an independent answer.
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

get_here <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grepl("^--file=", a)])
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
}
HERE <- get_here()
csv <- file.path(HERE, "frequentist_networks.csv")
all <- read.csv(csv, colClasses = c("character", "character", "character", "numeric", "numeric"))
REFERENCE <- c(parkinsons = "1", smoking = "no_contact", smoking_pairwise = "no_contact", synthetic = "T01")

one_network <- function(net) {
  tab <- all[all$network == net, ]
  ref <- REFERENCE[[net]]
  trts <- c(ref, sort(setdiff(unique(tab$treatment), ref)))
  studies <- unique(tab$study)
  base <- sapply(studies, function(s) tab$treatment[tab$study == s & is.na(tab$y)])
  base_se <- sapply(studies, function(s) tab$se[tab$study == s & is.na(tab$y)])
  ct <- tab[!is.na(tab$y), ]
  ct$base <- base[ct$study]
  k <- nrow(ct); nt <- length(trts)
  X <- matrix(0, k, nt, dimnames = list(NULL, trts))
  for (i in seq_len(k)) { X[i, ct$treatment[i]] <- 1; X[i, ct$base[i]] <- -1 }
  X <- X[, -1, drop = FALSE]
  V <- diag(ct$se^2, k); C <- diag(k)
  for (s in studies) {
    ii <- which(ct$study == s)
    if (length(ii) > 1) {
      for (a in ii) for (b in ii) if (a != b) { V[a, b] <- base_se[[s]]^2; C[a, b] <- 0.5 }
    }
  }
  # design-by-treatment interaction: each design (set of treatments) its own effects vs its first treatment
  design_of <- sapply(studies, function(s) paste(trts[sort(match(tab$treatment[tab$study == s], trts))], collapse = ":"))
  cols <- character(0)
  for (d in unique(design_of)) { tt <- strsplit(d, ":")[[1]]; cols <- c(cols, paste0(d, "|", tt[-1])) }
  D <- matrix(0, k, length(cols), dimnames = list(NULL, cols))
  for (i in seq_len(k)) {
    d <- design_of[[ct$study[i]]]
    for (sg in list(list(ct$treatment[i], 1), list(ct$base[i], -1))) {
      cn <- paste0(d, "|", sg[[1]])
      if (cn %in% cols) D[i, cn] <- D[i, cn] + sg[[2]]
    }
  }
  dat <- data.frame(yi = ct$y, study = factor(ct$study, levels = studies), arm = factor(ct$treatment))
  fe_fit <- function(M, mods) rma.mv(yi, M, mods = mods, intercept = FALSE, data = dat, method = "FE")
  contrasts <- function(fit) {
    est <- c(0, as.numeric(coef(fit))); Vb <- matrix(0, nt, nt); Vb[-1, -1] <- as.matrix(vcov(fit))
    out <- list()
    for (a in seq_len(nt)) for (b in seq_len(nt)) if (a != b)
      out[[length(out) + 1]] <- list(treatment = trts[b], comparator = trts[a], estimate = est[b] - est[a],
                                     se = sqrt(Vb[a, a] + Vb[b, b] - 2 * Vb[a, b]))
    out
  }
  dl <- function(M0, mods) {   # generalised DL: (Q - df) / tr(P C), P at tau = 0 (netmeta's tau.within)
    W <- solve(M0); Pm <- W - W %*% mods %*% MASS::ginv(t(mods) %*% W %*% mods) %*% t(mods) %*% W
    f <- fe_fit(M0, mods)
    max(0, (f$QE - (k - qr(mods)$rank)) / sum(diag(Pm %*% C)))
  }
  wald <- function(tau2) {
    f <- suppressWarnings(rma.mv(yi, V + tau2 * C, mods = cbind(X, D), intercept = FALSE, data = dat, method = "FE"))
    extra <- which(!(colnames(f$X) %in% colnames(X)))
    w <- anova(f, btt = extra)
    list(tau2 = tau2, Q = w$QM, df = w$QMdf[1], p = w$QMp)
  }
  fe <- fe_fit(V, X)
  res <- list(treatments = trts, reference = ref, n_studies = length(studies), n_contrasts = k,
              fixed = list(contrasts = contrasts(fe), Q = fe$QE, df = k - ncol(X), p = fe$QEp))
  df <- k - ncol(X)
  if (df >= 1) {
    re_at <- function(t2) rma.mv(yi, V, mods = X, intercept = FALSE, data = dat, method = "REML",
                                 random = ~ arm | study, struct = "CS", rho = 0.5, tau2 = t2)
    re0 <- rma.mv(yi, V, mods = X, intercept = FALSE, data = dat, method = "REML", random = ~ arm | study,
                  struct = "CS", rho = 0.5)
    # nlminb stops at ~1e-7 in tau^2; polish on metafor's own restricted log-likelihood with tau^2 held fixed
    opt <- optimize(function(t2) as.numeric(logLik(re_at(t2))), c(0, 2 * re0$tau2 + 1e-4), maximum = TRUE,
                    tol = 1e-12)
    tau2_hat <- if (as.numeric(logLik(re_at(0))) >= opt$objective) 0 else opt$maximum
    re <- re_at(tau2_hat)
    qgen <- function(t2) fe_fit(V + t2 * C, X)$QE
    bound <- function(target) {
      if (qgen(0) <= target) return(0)
      hi <- 1; while (qgen(hi) > target) hi <- hi * 4
      uniroot(function(t2) qgen(t2) - target, c(0, hi), tol = 1e-13)$root
    }
    res$reml <- list(tau2 = tau2_hat, tau2_nlminb = re0$tau2, contrasts = contrasts(re),
                     logLik_REML = as.numeric(logLik(re)))
    res$tau2_qprofile <- list(lower = bound(qchisq(0.975, df)), upper = bound(qchisq(0.025, df)),
                              method = "uniroot on QE of rma.mv(FE) with V + tau^2 C")
    res$dl_trace_formula <- list(tau2 = dl(V, X))
  }
  if (nt > 2) {
    within <- fe_fit(V, D)
    res$design_by_treatment <- list(
      designs = unname(design_of), Q_within = within$QE, df_within = k - qr(D)$rank,
      Q_total = fe$QE, df_total = df, Q_between = fe$QE - within$QE,
      per_design_Q = lapply(split(seq_len(k), design_of[ct$study]), function(ii) {
        r <- ct$y[ii] - (D %*% coef(within))[ii]; as.numeric(t(r) %*% solve(V[ii, ii]) %*% r) }),
      wald_fixed = wald(0), tau2_within_dl = dl(V, D),
      # Q between designs with one design detached (its own effects): QE(cbind(X, D of that design)) - Q within
      detached_Q_between = setNames(lapply(unique(design_of), function(g) {
        cols <- which(startsWith(colnames(D), paste0(g, "|")))
        suppressWarnings(fe_fit(V, cbind(X, D[, cols, drop = FALSE])))$QE - within$QE }), unique(design_of)))
    res$design_by_treatment$wald_random_within = wald(res$design_by_treatment$tau2_within_dl)
    if (!is.null(res$reml)) res$design_by_treatment$wald_random_reml <- wald(res$reml$tau2)
  } else {
    u_dl <- rma.uni(yi = ct$y, sei = ct$se, method = "DL")
    u_reml <- rma.uni(yi = ct$y, sei = ct$se, method = "REML", control = list(threshold = 1e-14, maxiter = 10000))
    ci <- confint(u_reml, control = list(tol = 1e-13))$random
    res$rma_uni <- list(tau2_dl = u_dl$tau2, tau2_reml = u_reml$tau2, estimate_dl = as.numeric(coef(u_dl)),
                        se_dl = u_dl$se, estimate_reml = as.numeric(coef(u_reml)), se_reml = u_reml$se,
                        Q = u_dl$QE, I2_dl_percent = u_dl$I2,
                        tau2_qprofile = list(lower = ci["tau^2", "ci.lb"], upper = ci["tau^2", "ci.ub"]))
  }
  res
}

nets <- unique(all$network)
out <- list(
  source = list(
    script = "tests/reference/make_metafor_frequentist.R",
    data = "tests/reference/frequentist_networks.csv (written by tests/reference/make_frequentist_networks.py)",
    data_md5 = unname(tools::md5sum(csv)),
    calls = c("rma.mv(yi, V, mods = X, intercept = FALSE, method = 'FE')",
              "rma.mv(yi, V, mods = X, intercept = FALSE, method = 'REML', random = ~ arm | study, struct = 'CS', rho = 0.5), then optimize() over tau2 of logLik(rma.mv(..., tau2 = tau2)) with tol = 1e-12",
              "rma.mv(yi, V + tau2 * C, mods = cbind(X, D), intercept = FALSE, method = 'FE'); anova(fit, btt = D columns)",
              "rma.uni(yi, sei, method = 'DL' | 'REML'); confint(rma.uni REML)"),
    metafor_version = as.character(packageVersion("metafor")),
    r_version = R.version.string,
    date = format(Sys.Date())
  ),
  networks = setNames(lapply(nets, one_network), nets)
)
write_json(out, file.path(HERE, "metafor_frequentist.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           na = "null", null = "null")
