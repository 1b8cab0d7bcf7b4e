#pragma once
// Everything in lowbit::layers, for applications and tests.

#include "layers/activation.hpp"
#include "layers/batch_norm.hpp"
#include "layers/conv.hpp"
#include "layers/dropout.hpp"
#include "layers/factory.hpp"
#include "layers/init.hpp"
#include "layers/linear.hpp"
#include "layers/losses.hpp"
#include "layers/models.hpp"
#include "layers/module.hpp"
#include "layers/pooling.hpp"
#include "layers/residual.hpp"
#include "layers/sequential.hpp"
#include "layers/state_io.hpp"
