/*
 * STM32F405 wearable: 168 MHz from an 8 MHz crystal (16 MHz HSI if the
 * crystal does not start), USART1 at 921600 Bd on PA9/PA10, EGG front end
 * on PA0 = ADC1 channel 0, sampled on TIM2's update at fs with DMA2 stream 0
 * in double-buffer mode: one buffer fills while the interrupt hands the other
 * (one 10 ms hop) to the application. An independent watchdog (about 1 s)
 * resets the chip if the main loop stops.
 */
#include "board.h"

#include "app.h"
#include "emo_proto.h"
#include "stm32f4.h"

#define CPU_HZ 168000000u
#define APB1_TIMER_HZ 84000000u       /* APB1 = 42 MHz, timers run at twice that */
#define USART1_BRR_921600 0x5Bu       /* 84 MHz / (16 * 5.6875) = 923 kBd, +0.16 % */
#define HSE_TIMEOUT 100000u

static uint16_t adc_buf[2][EMO_APP_MAX_HOP]; /* DMA targets; converted to int16 in place */
static int32_t adc_hop;

static void clocks_init(void)
{
    uint32_t i, use_hse = 0, pllm = 16u; /* HSI 16 MHz / 16 = 1 MHz into the PLL */

    RCC_CR |= 1u << 16; /* HSEON */
    for (i = 0; i < HSE_TIMEOUT; i++) {
        if (RCC_CR & (1u << 17)) { /* HSERDY */
            use_hse = 1;
            pllm = 8u; /* 8 MHz / 8 */
            break;
        }
    }
    /* 1 MHz * 336 / 2 = 168 MHz core, / 7 = 48 MHz for USB */
    RCC_PLLCFGR = pllm | (336u << 6) | (0u << 16) | (use_hse << 22) | (7u << 24);
    RCC_CR |= 1u << 24; /* PLLON */
    while ((RCC_CR & (1u << 25)) == 0u) {
    }
    FLASH_ACR = 5u | (1u << 8) | (1u << 9) | (1u << 10); /* 5 wait states, prefetch, caches */
    RCC_CFGR = (5u << 10) | (4u << 13) | 2u;              /* APB1 /4, APB2 /2, SYSCLK = PLL */
    while (((RCC_CFGR >> 2) & 3u) != 2u) {
    }
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
    cortexm_usart1_start(USART1_BRR_921600);
    ADC_CCR = (ADC_CCR & ~(3u << 16)) | (1u << 16); /* ADC clock 84 MHz / 4 = 21 MHz */
    cortexm_irq_enable(DMA2_STREAM0_IRQN, 0x20u);   /* above the USART: samples first */
    watchdog_init();
    __asm volatile("cpsie i" ::: "memory");
}

uint8_t board_id(void)
{
    return EMO_BOARD_STM32F405;
}

uint8_t board_cost_unit(void)
{
    return EMO_COST_CYCLES;
}

uint8_t board_flags(void)
{
    return 0;
}

uint32_t board_cpu_hz(void)
{
    return CPU_HZ;
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

static void sampling_stop(void)
{
    TIM2_CR1 = 0;
    ADC1_CR2 = 0;
    DMA2_S0CR &= ~1u;
    while (DMA2_S0CR & 1u) {
    }
    DMA2_LIFCR = 0x3Du; /* all stream 0 flags */
}

emo_status_t board_sampling(int32_t on, int32_t fs)
{
    if (fs != 8000 && fs != 16000) {
        return EMO_ERR_RATE;
    }
    sampling_stop();
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
    TIM2_ARR = APB1_TIMER_HZ / (uint32_t)fs - 1u;
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
