/*
 * STM32F405 wearable: 168 MHz from an 8 MHz crystal, USART1 at 921600 Bd on
 * PA9/PA10, EGG front end on PA0 = ADC1 channel 0, sampled on TIM2's update at
 * fs with DMA2 stream 0 in double-buffer mode: one buffer fills while the
 * interrupt hands the other (one 10 ms hop) to the application. An independent
 * watchdog (about 1 s) resets the chip if the main loop stops.
 *
 * Every wait on a hardware flag is bounded. A crystal that does not start
 * gives the PLL the 16 MHz HSI instead; a PLL that does not lock, flash wait
 * states that do not take, or a clock switch that does not happen leave the
 * core on the HSI. Either way HELLO reports EMO_HELLO_FLAG_CLOCK_FALLBACK, and
 * the USART divisor, the sampling timer and board_cpu_hz() follow the clocks
 * the RCC reports afterwards. QEMU's netduinoplus2 has no RCC model (reads 0,
 * writes ignored): there the image runs this fallback, on "HSI 16 MHz".
 */
#include "board.h"

#include "app.h"
#include "emo_proto.h"
#include "stm32f4.h"

#define HSE_HZ 8000000u
#define HSI_HZ 16000000u
#define LINK_BAUD 921600u
#define FLASH_WAIT_STATES 5u          /* 168 MHz at 2.7-3.6 V (RM0090 table 10) */
/* Polls of a flag before giving up. A poll (a peripheral load, compare, branch, count) takes
 * at least 4 cycles, so 100 000 last >= 25 ms on the 16 MHz HSI the chip starts on: well over
 * a crystal's start-up (about 2 ms) and the PLL's lock (about 0.1 ms). */
#define FLAG_POLLS 100000u

/* board.toml's clocks are these: the PLL below (HSE / 8 * 336 / 2) and the HSI it falls back to */
#if EMO_BOARD_CORE_HZ != HSE_HZ / 8u * 336u / 2u || EMO_BOARD_FALLBACK_HZ != HSI_HZ
#error "board.toml clock.core_hz / clock.fallback_hz differ from the clocks board.c sets up"
#endif

static uint16_t adc_buf[2][EMO_APP_MAX_HOP]; /* DMA targets; converted to int16 in place */
static int32_t adc_hop;
static uint8_t clock_flags;                  /* EMO_HELLO_FLAG_CLOCK_FALLBACK when not on HSE + PLL */
static uint32_t hclk_hz, pclk2_hz, tim_apb1_hz; /* as the RCC reports them after clocks_init() */

/* 1 once (*reg & mask) == want, 0 after FLAG_POLLS polls without. */
static int32_t wait_flag(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    uint32_t i;
    for (i = 0; i < FLAG_POLLS; i++) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

/* HSE 8 MHz (or HSI 16 MHz) -> PLL 168 MHz; AHB 168, APB1 42, APB2 84 MHz. Returns 0 when
 * all of it came up, 1 when the core was left on a fallback clock. */
static int32_t clocks_switch(void)
{
    uint32_t hse, fallback = 0;

    RCC_CR |= RCC_CR_HSEON;
    hse = (uint32_t)wait_flag(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY);
    if (!hse) {
        RCC_CR &= ~RCC_CR_HSEON;
        fallback = 1;
    }
    /* PLL input 1 MHz (HSE / 8 or HSI / 16) * 336 / 2 = 168 MHz core, / 7 = 48 MHz for USB */
    RCC_PLLCFGR = (hse ? 8u : 16u) | (336u << 6) | (0u << 16) | (hse ? RCC_PLLCFGR_SRC_HSE : 0u) |
                  (7u << 24);
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_flag(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        RCC_CR &= ~RCC_CR_PLLON;
        return 1; /* on the HSI */
    }
    /* the wait states must be in force before the clock rises (RM0090 3.5.1) */
    FLASH_ACR = FLASH_WAIT_STATES | (1u << 8) | (1u << 9) | (1u << 10); /* prefetch, caches */
    if ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != FLASH_WAIT_STATES) {
        return 1;
    }
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_PRE_MASK) | (5u << 10) | (4u << 13); /* APB1 /4, APB2 /2 */
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL;
    if (!wait_flag(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL)) {
        RCC_CFGR &= ~(RCC_CFGR_SW_MASK | RCC_CFGR_PRE_MASK); /* back to the HSI, buses undivided */
        return 1;
    }
    return (int32_t)fallback;
}

/* The system clock as the RCC reports it: the source the switch shows, through the PLL's
 * dividers where that is the source. */
static uint32_t sysclk_hz(void)
{
    uint32_t pll = RCC_PLLCFGR, m = pll & 0x3Fu, n = (pll >> 6) & 0x1FFu;
    uint32_t p = 2u * (((pll >> 16) & 3u) + 1u);

    switch (RCC_CFGR & RCC_CFGR_SWS_MASK) {
    case 1u << 2:
        return HSE_HZ;
    case RCC_CFGR_SWS_PLL:
        if (m >= 2u) {
            return ((pll & RCC_PLLCFGR_SRC_HSE) ? HSE_HZ : HSI_HZ) / m * n / p;
        }
        return HSI_HZ; /* not a configuration the PLL runs with */
    default:
        return HSI_HZ;
    }
}

static void clocks_init(void)
{
    static const uint8_t ahb_shift[8] = {1, 2, 3, 4, 6, 7, 8, 9}; /* HPRE 1000..1111 */
    uint32_t cfgr, hpre, ppre1, ppre2;

    clock_flags = clocks_switch() ? EMO_HELLO_FLAG_CLOCK_FALLBACK : 0u;
    cfgr = RCC_CFGR;
    hpre = (cfgr >> 4) & 0xFu;
    ppre1 = (cfgr >> 10) & 7u;
    ppre2 = (cfgr >> 13) & 7u;
    hclk_hz = sysclk_hz() >> ((hpre & 8u) ? ahb_shift[hpre & 7u] : 0u);
    pclk2_hz = hclk_hz >> ((ppre2 & 4u) ? (ppre2 & 3u) + 1u : 0u);
    /* APB1 timers run at twice the bus clock when the bus is divided */
    tim_apb1_hz = (ppre1 & 4u) ? 2u * (hclk_hz >> ((ppre1 & 3u) + 1u)) : hclk_hz;
}

static void pins_init(void)
{
    RCC_AHB1ENR |= (1u << 0) | (1u << 22);  /* GPIOA, DMA2 */
    RCC_APB1ENR |= 1u << 0;                 /* TIM2 */
    RCC_APB2ENR |= (1u << 4) | (1u << 8);   /* USART1, ADC1 */
    /* PA0 analog; PA9, PA10 alternate function 7 (USART1), pull-up on RX */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 0) | (3u << 18) | (3u << 20))) |
                  (3u << 0) | (2u << 18) | (2u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (7u << 4) | (7u << 8);
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << 20)) | (1u << 20);
    GPIOA_OSPEEDR |= 3u << 18;
}

static void watchdog_init(void)
{
    IWDG_KR = 0x5555u;  /* unlock PR and RLR */
    IWDG_PR = 3u;       /* LSI / 32 = 1 kHz */
    IWDG_RLR = 1000u;   /* about 1 s */
    IWDG_KR = 0xAAAAu;
    IWDG_KR = 0xCCCCu;  /* start */
}

void board_init(void)
{
    clocks_init();
    pins_init();
    cortexm_systick_start();
    /* 16x oversampling: BRR = APB2 / baud in 1/16 steps. 84 MHz: 0x5B, 923 077 Bd (+0.16 %);
     * 16 MHz HSI: 0x11, 941 176 Bd (+2.1 %, near the limit of what a receiver takes) */
    cortexm_usart1_start((pclk2_hz + LINK_BAUD / 2u) / LINK_BAUD);
    ADC_CCR = (ADC_CCR & ~(3u << 16)) | (1u << 16); /* ADC clock APB2 / 4: 21 MHz, 4 MHz on the HSI */
    cortexm_irq_enable(DMA2_STREAM0_IRQN, 0x20u);   /* above the USART: samples first */
    watchdog_init();
    __asm volatile("cpsie i" ::: "memory");
}

uint8_t board_id(void)
{
    return EMO_BOARD_ID; /* board.toml id, compiled in by the build */
}

uint8_t board_cost_unit(void)
{
    return EMO_COST_CYCLES;
}

uint8_t board_flags(void)
{
    return clock_flags;
}

uint32_t board_cpu_hz(void)
{
    return hclk_hz; /* SysTick counts the processor clock */
}

uint64_t board_ticks(void)
{
    return cortexm_ticks();
}

uint32_t board_cost(uint64_t ticks)
{
    return (uint32_t)ticks;
}

void board_write(const uint8_t *data, int32_t n)
{
    cortexm_usart1_write(data, n);
}

/* TX/RX only, no RTS/CTS: a byte held in DR would be overrun by the next one, so a
 * full RX ring drops bytes and counts them (rx_overflows) instead. */
int32_t board_rx_flow_control(void)
{
    return 0;
}

void board_rx_resume(void)
{
    cortexm_usart1_rx_resume();
}

int32_t board_has_adc(void)
{
    return 1;
}

/* 0 when the DMA stream would not stop (its registers cannot be changed while it runs). */
static int32_t sampling_stop(void)
{
    TIM2_CR1 = 0;
    ADC1_CR2 = 0;
    DMA2_S0CR &= ~1u;
    if (!wait_flag(&DMA2_S0CR, 1u, 0u)) { /* EN clears after the current transfer */
        return 0;
    }
    DMA2_LIFCR = 0x3Du; /* all stream 0 flags */
    return 1;
}

emo_status_t board_sampling(int32_t on, int32_t fs)
{
    if (fs != 8000 && fs != 16000) {
        return EMO_ERR_RATE;
    }
    if (!sampling_stop()) {
        return EMO_ERR_STATE;
    }
    if (!on) {
        return EMO_OK;
    }
    adc_hop = fs / 100; /* one 10 ms hop per buffer */
    /* DMA2 stream 0, channel 0: ADC1->DR to adc_buf[0]/[1], 16-bit, double buffer */
    DMA2_S0PAR = ADC1_DR_ADDR;
    DMA2_S0M0AR = (uint32_t)(uintptr_t)adc_buf[0];
    DMA2_S0M1AR = (uint32_t)(uintptr_t)adc_buf[1];
    DMA2_S0NDTR = (uint32_t)adc_hop;
    DMA2_S0FCR = 0; /* direct mode */
    DMA2_S0CR = (0u << 25) | (1u << 18) | (2u << 16) | (1u << 13) | (1u << 11) |
                (1u << 10) | (1u << 8) | (1u << 4); /* DBM, high priority, 16/16 bit, MINC, CIRC, TCIE */
    DMA2_S0CR |= 1u;
    /* ADC1: one conversion of channel 0 per TIM2 TRGO, DMA request after each */
    ADC1_SMPR2 = 3u;          /* 56 ADC cycles */
    ADC1_SQR1 = 0;            /* one conversion */
    ADC1_SQR3 = 0;            /* channel 0 */
    ADC1_CR1 = 0;             /* 12 bit */
    ADC1_CR2 = (1u << 28) | (6u << 24) | (1u << 9) | (1u << 8) | 1u; /* rising TIM2_TRGO, DDS, DMA, ADON */
    /* TIM2: update at fs, TRGO on update */
    TIM2_PSC = 0;
    TIM2_ARR = tim_apb1_hz / (uint32_t)fs - 1u; /* 5249 at 16 kHz; exact on 84 and 16 MHz */
    TIM2_CR2 = 2u << 4;
    TIM2_EGR = 1u;
    TIM2_CR1 = 1u;
    return EMO_OK;
}

void DMA2_Stream0_IRQHandler(void)
{
    uint32_t isr = DMA2_LISR;
    DMA2_LIFCR = 0x3Du;
    if (isr & (1u << 5)) { /* transfer complete: the buffer not in use is full */
        uint16_t *done = (DMA2_S0CR & (1u << 19)) ? adc_buf[0] : adc_buf[1];
        int16_t *x = (int16_t *)done;
        int32_t i;
        for (i = 0; i < adc_hop; i++) {
            x[i] = (int16_t)(((int32_t)done[i] - 2048) * 16); /* 12-bit unsigned -> int16 */
        }
        app_samples(x, adc_hop);
    }
}

emo_status_t board_exit(int32_t code)
{
    (void)code;
    return EMO_ERR_UNSUPPORTED;
}

void board_watchdog_kick(void)
{
    IWDG_KR = 0xAAAAu;
}

void board_idle(void)
{
    cortexm_idle();
}
