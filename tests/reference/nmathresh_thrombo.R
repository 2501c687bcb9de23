# Regenerates tests/reference/nmathresh_thrombo.json: nmathresh's threshold analysis of the Thrombolytics network
# (Caldwell et al. 2005), exactly as the package vignette "Examples" runs it (Phillippo et al. 2018, JRSS A 181:1177).
#
#   git clone https://github.com/dmphillippo/nmathresh /tmp/nmathresh   # commit 99bc361 (version 0.1.6)
#   Rscript tests/reference/nmathresh_thrombo.R /tmp/nmathresh [commit] > tests/reference/nmathresh_thrombo.json
#
# The package's own R files are sourced (nma_thresh, get.int, recon_vcov, d_i2ab/d_ab2i), so only Matrix, nnls and
# jsonlite need to be installed. Inputs (data, posterior means and covariance) are the package's shipped data.
args <- commandArgs(trailingOnly = TRUE)
root <- if (length(args)) args[1] else "/tmp/nmathresh"
suppressMessages({
  library(Matrix)
  for (f in c("indexing.R", "nma_thresh.R", "recon_vcov.R")) source(file.path(root, "R", f))
  load(file.path(root, "data", "Thrombo.post.summary.rda"))
  load(file.path(root, "data", "Thrombo.post.cov.rda"))
})
commit <- if (length(args) > 1) args[2] else
  suppressWarnings(tryCatch(system2("git", c("-C", root, "rev-parse", "HEAD"), stdout = TRUE, stderr = FALSE),
                            error = function(e) character()))
if (!length(commit)) commit <- NA_character_
version <- read.dcf(file.path(root, "DESCRIPTION"))[, "Version"]

## Study level (vignette section "Study level threshold analysis"), verbatim apart from attach()
dat.raww <- read.delim(file.path(root, "inst", "extdata", "Thrombo_data.txt"))
n <- nrow(dat.raww)
dat.raww$lor.1 <- with(dat.raww, log(r.2 * (n.1 - r.1) / ((n.2 - r.2) * r.1)))
dat.raww$k.1 <- dat.raww$t.2
dat.raww$b.1 <- dat.raww$t.1
dat.raww$lor.2 <- with(dat.raww, log(r.3 * (n.1 - r.1) / ((n.3 - r.3) * r.1)))
dat.raww$k.2 <- dat.raww$t.3
dat.raww$b.2 <- ifelse(is.na(dat.raww$k.2), NA, dat.raww$t.1)
V.diag <- as.list(rep(NA, n))
for (i in 1:n) {
  with(dat.raww[i, ], {
    v1 <- 1/r.1 + 1/r.2 + 1/(n.1 - r.1) + 1/(n.2 - r.2)
    if (n_arms == 2) V.diag[[i]] <<- v1
    else {
      v2 <- 1/r.1 + 1/r.3 + 1/(n.1 - r.1) + 1/(n.3 - r.3)
      c1 <- 1/r.1 + 1/(n.1 - r.1)
      V.diag[[i]] <<- matrix(c(v1, c1, c1, v2), nrow = 2)
    }
  })
}
V <- bdiag(V.diag)
dat.rawl <- reshape(dat.raww, varying = c("lor.1", "b.1", "k.1", "lor.2", "b.2", "k.2"),
                    timevar = "c", idvar = "studyID", direction = "long")
dat.rawl <- dat.rawl[order(dat.rawl$studyID, dat.rawl$c, dat.rawl$b, na.last = NA), ]
N <- nrow(dat.rawl)
K <- length(unique(c(dat.rawl$b, dat.rawl$k)))
X <- matrix(0, nrow = N, ncol = K - 1)
for (i in 1:N) {
  X[i, dat.rawl$k[i] - 1] <- 1
  if (dat.rawl$b[i] != 1) X[i, dat.rawl$b[i] - 1] <- -1
}
mean.dk <- Thrombo.post.summary$statistics[1:(K - 1), "Mean"]
study <- suppressMessages(nma_thresh(mean.dk = mean.dk, lhood = V, post = Thrombo.post.cov, nmatype = "fixed",
                                     X = X, opt.max = FALSE))
study_mcid <- suppressMessages(nma_thresh(mean.dk = mean.dk, lhood = V, post = Thrombo.post.cov, nmatype = "fixed",
                                          X = X, opt.max = FALSE, mcid = 0.05, mcid.type = "change"))

## Contrast level (vignette section "Contrast level threshold analysis")
Xc <- matrix(ncol = K - 1, byrow = TRUE,
             c(1, 0, 0, 0, 0,
               0, 1, 0, 0, 0,
               0, 0, 1, 0, 0,
               0, 0, 0, 1, 0,
               0, -1, 1, 0, 0,
               0, -1, 0, 1, 0,
               0, -1, 0, 0, 1))
lik.cov <- suppressMessages(recon_vcov(Thrombo.post.cov, prior.prec = .0001, X = Xc))
contrast <- suppressMessages(nma_thresh(mean.dk = mean.dk, lhood = lik.cov, post = Thrombo.post.cov,
                                        nmatype = "fixed", X = Xc, opt.max = FALSE))

th <- function(t) list(lo = t$thresholds$lo, lo_newkstar = t$thresholds$lo.newkstar,
                       hi = t$thresholds$hi, hi_newkstar = t$thresholds$hi.newkstar, kstar = t$kstar,
                       H = unname(as.matrix(t$H)))
fin <- function(x) ifelse(is.finite(x), x, NA)   # JSON has no Inf: null = no threshold (infinite)
th_json <- function(t) { out <- th(t); out$lo <- fin(out$lo); out$hi <- fin(out$hi); out }
out <- list(
  source = list(
    description = paste("nmathresh threshold analysis of the Thrombolytics NMA (Caldwell et al. 2005, BMJ 331:897),",
                        "study level and contrast level, fixed effect, lower log OR (mortality) is better, as in the",
                        "package vignette 'Examples' which recreates Phillippo et al. (2018) JRSS A 181(4):1177-1201."),
    script = "tests/reference/nmathresh_thrombo.R",
    call = "nma_thresh(mean.dk, lhood = V, post = Thrombo.post.cov, nmatype = 'fixed', X = X, opt.max = FALSE)",
    call_mcid = "the same with mcid = 0.05, mcid.type = 'change'",
    call_contrast = paste("recon_vcov(Thrombo.post.cov, prior.prec = .0001, X = Xc); nma_thresh(mean.dk, lhood = lik.cov,",
                          "post = Thrombo.post.cov, nmatype = 'fixed', X = Xc, opt.max = FALSE)"),
    nmathresh_version = unname(version), nmathresh_commit = commit, r_version = R.version.string,
    matrix_version = as.character(packageVersion("Matrix")), nnls_version = as.character(packageVersion("nnls")),
    vignette_text = paste("the estimated log odds ratio of treatment 5 vs. treatment 1 in study 11 is -0.06. A negative",
                          "bias adjustment of -0.14 would move the estimate to the lower bound of the decision-invariant",
                          "bias adjustment interval (-0.20), at which point treatment 5 would replace treatment 3 as",
                          "optimal. Conversely, a positive bias adjustment of 0.87 would move the estimate to the upper",
                          "bound ..., at which point treatment 2 would replace treatment 3 as optimal.")),
  data = list(studyID = dat.raww$studyID, t1 = dat.raww$t.1, t2 = dat.raww$t.2, t3 = dat.raww$t.3,
              r1 = dat.raww$r.1, n1 = dat.raww$n.1, r2 = dat.raww$r.2, n2 = dat.raww$n.2,
              r3 = dat.raww$r.3, n3 = dat.raww$n.3),
  datapoints = list(studyID = dat.rawl$studyID, k = dat.rawl$k, b = dat.rawl$b, lor = dat.rawl$lor,
                    var = diag(as.matrix(V))),
  X = unname(X), V = unname(as.matrix(V)),
  mean_dk = unname(mean.dk), post_cov = unname(Thrombo.post.cov),
  study = th_json(study), study_mcid = th_json(study_mcid),
  contrast = c(th_json(contrast), list(X = unname(Xc), lik_var = diag(as.matrix(lik.cov)))))
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE), "\n")
